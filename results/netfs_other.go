//go:build !linux

package results

// networkFilesystem is only implemented on Linux, where clusters run; other
// systems always get WAL.
func networkFilesystem(dir string) (string, bool) { return "", false }
