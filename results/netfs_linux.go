//go:build linux

package results

import "syscall"

// networkFilesystems maps statfs(2) f_type magic numbers of filesystems whose
// locking or shared memory is not coherent across hosts to their names.
var networkFilesystems = map[uint32]string{
	0x6969:     "nfs",
	0x517B:     "smb",
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
	0x0BD00BD0: "lustre",
	0x47504653: "gpfs",
	0x00C36400: "cephfs",
	0x19830326: "beegfs",
	0x5346414F: "afs",
	0x01021997: "9p",
}

// networkFilesystem reports whether dir lies on a network filesystem, and
// which. An unreadable dir counts as local: opening the database will then
// report the real error.
func networkFilesystem(dir string) (string, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "", false
	}
	name, ok := networkFilesystems[uint32(st.Type)]
	return name, ok
}
