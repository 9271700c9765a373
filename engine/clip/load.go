package clip

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fomo-grid/grid/engine/safetensors"
	"github.com/fomo-grid/grid/engine/torchscript"
)

// checkpointExts are the extensions of PyTorch checkpoints a model
// directory may hold instead of model.safetensors.
var checkpointExts = []string{".pt", ".pth"}

// ResolveWeights returns the weights file of a model path. A file is its
// own weights file. In a directory, in this order:
//  1. model.safetensors (OpenAI or Hugging Face CLIPModel names);
//  2. otherwise its only *.pt or *.pth file: a TorchScript archive as
//     OpenAI distributes (ViT-B-16.pt) or a torch.save state dict.
//
// Anything else is an error that says what was looked for.
func ResolveWeights(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("clip: model: %w", err)
	}
	if !st.IsDir() {
		return path, nil
	}
	st2, err := os.Stat(filepath.Join(path, WeightsFile))
	if err == nil && !st2.IsDir() {
		return filepath.Join(path, WeightsFile), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", fmt.Errorf("clip: model: %w", err)
	}
	var checkpoints []string
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(checkpointExts, strings.ToLower(filepath.Ext(e.Name()))) {
			checkpoints = append(checkpoints, e.Name())
		}
	}
	switch len(checkpoints) {
	case 1:
		return filepath.Join(path, checkpoints[0]), nil
	case 0:
		return "", fmt.Errorf("clip: model directory %s holds no weights: looked for %s, then for a single *.pt or *.pth file "+
			"(OpenAI's TorchScript checkpoint such as ViT-B-16.pt, or a torch.save state dict)", path, WeightsFile)
	}
	return "", fmt.Errorf("clip: model directory %s holds no %s and %d checkpoints (%s): keep one, or set model to the file to use",
		path, WeightsFile, len(checkpoints), strings.Join(checkpoints, ", "))
}

// ReadTensors reads a weights file into float32 tensors under OpenAI's
// names. The format is told by content: a zip archive is read as a PyTorch
// checkpoint (TorchScript or torch.save), anything else as safetensors
// unless its extension says PyTorch (so that an old-format .pt gets
// PyTorch's error, not safetensors'). Hugging Face names, detected by
// IsHFNaming, are mapped with FromHFNames.
func ReadTensors(path string) (map[string]Tensor, error) {
	isZip, err := hasZipSignature(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	var tensors map[string]Tensor
	ext := strings.ToLower(filepath.Ext(path))
	if isZip || slices.Contains(checkpointExts, ext) || ext == ".bin" {
		tensors, err = torchscript.Read(path)
	} else {
		tensors, err = readSafetensors(path)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	if IsHFNaming(names) {
		if tensors, err = FromHFNames(tensors); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return tensors, nil
}

func hasZipSignature(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return false, nil // too short for a zip; let the format reader explain
	}
	return bytes.Equal(head, []byte("PK\x03\x04")), nil
}

// readSafetensors reads every tensor except HF's integer position_ids,
// which are not weights and which the float reader cannot decode.
func readSafetensors(path string) (map[string]Tensor, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]Tensor{}
	for _, name := range f.Names() {
		if hfIgnored(name) {
			continue
		}
		t, err := f.Tensor(name)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// LoadFile builds a model from one weights file in any format ReadTensors
// reads. Errors name the file.
func LoadFile(path string) (*Model, error) {
	tensors, err := ReadTensors(path)
	if err != nil {
		return nil, err
	}
	m, err := FromTensors(tensors)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
