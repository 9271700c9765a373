package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ImageNet and its four test-only variants share CoOp's classnames.txt (one
// "<wnid> <class name>" line per class; each variant's folder holds its own
// copy) and store images one folder per class.
//
// Files within a class folder are taken sorted by name: CoOp lists them in
// os.listdir order, which depends on the file system, and sorting makes
// every machine build the same item order (and so the same few-shot sample
// for ImageNet). Names starting with "." are skipped, as Dassl's
// listdir_nohidden skips them, and only folders count as classes, so a file
// beside the class folders (ImageNet-A's and ImageNet-R's README.txt) is
// ignored.

// classList is a parsed classnames.txt.
type classList struct {
	path   string            // the file, for error messages
	wnids  []string          // in file order
	nameOf map[string]string // wnid -> class name
}

// readClassList reads <dataset dir>/classnames.txt. Each non-blank line is
// "<wnid> <class name>"; the name is everything after the first space and
// may contain spaces (CoOp's read_classnames). A wnid given twice is an
// error: ImageNetV2 labels by line position, so a repeated line would shift
// every label after it.
func readClassList(datasetDir string) (*classList, error) {
	path := filepath.Join(datasetDir, "classnames.txt")
	b, err := readRequired(path, "class list")
	if err != nil {
		return nil, err
	}
	cl := &classList{path: path, nameOf: map[string]string{}}
	lineOf := map[string]int{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		wnid, name, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("class list %s:%d: want \"<wnid> <class name>\", got %q", path, i+1, line)
		}
		if prev, dup := lineOf[wnid]; dup {
			return nil, fmt.Errorf("class list %s:%d: wnid %s is already on line %d", path, i+1, wnid, prev)
		}
		lineOf[wnid] = i + 1
		cl.wnids = append(cl.wnids, wnid)
		cl.nameOf[wnid] = name
	}
	if len(cl.wnids) == 0 {
		return nil, fmt.Errorf("class list %s is empty", path)
	}
	return cl, nil
}

// name is the class name of the class folder dir/wnid.
func (cl *classList) name(dir, wnid string) (string, error) {
	name, ok := cl.nameOf[wnid]
	if !ok {
		return "", fmt.Errorf("folder %s has no entry in %s", filepath.Join(dir, wnid), cl.path)
	}
	return name, nil
}

// classFolders lists the non-hidden folders of dir, sorted by name.
func classFolders(dir string) ([]string, error) {
	if err := requireDir(dir, "image folder"); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			folders = append(folders, e.Name())
		}
	}
	return folders, nil
}

// appendClass appends one item per non-hidden file of dir, sorted by name.
func appendClass(items []Item, dir string, label int, name string) ([]Item, error) {
	entries, err := os.ReadDir(dir) // sorted by name
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			items = append(items, Item{Path: filepath.Join(dir, e.Name()), Label: label, ClassName: name})
		}
	}
	return items, nil
}

// readImageNet reads ImageNet as CoOp does: the label is the index of the
// wnid folder among the sorted folders of images/train, its name comes from
// classnames.txt, and the test split (which is also Val) is images/val, which
// must have the same folders. CoOp's preprocessed.pkl is neither read nor
// written.
func readImageNet(ds *Dataset, imageDir string) error {
	cl, err := readClassList(ds.Dir)
	if err != nil {
		return err
	}
	read := func(split string) ([]string, []Item, error) {
		dir := filepath.Join(imageDir, split)
		folders, err := classFolders(dir)
		if err != nil {
			return nil, nil, err
		}
		var items []Item
		for label, wnid := range folders {
			name, err := cl.name(dir, wnid)
			if err != nil {
				return nil, nil, err
			}
			if items, err = appendClass(items, filepath.Join(dir, wnid), label, name); err != nil {
				return nil, nil, err
			}
		}
		return folders, items, nil
	}
	trainFolders, train, err := read("train")
	if err != nil {
		return err
	}
	valFolders, test, err := read("val")
	if err != nil {
		return err
	}
	if len(trainFolders) == 0 {
		return fmt.Errorf("image folder %s has no class folders", filepath.Join(imageDir, "train"))
	}
	if !slices.Equal(trainFolders, valFolders) {
		return fmt.Errorf("class folders of %s and %s differ (%d vs %d folders)",
			filepath.Join(imageDir, "train"), filepath.Join(imageDir, "val"), len(trainFolders), len(valFolders))
	}
	ds.Train, ds.Test, ds.Val, ds.ValIsTest = train, test, test, true
	ds.ClassNames = make([]string, len(trainFolders))
	for i, wnid := range trainFolders {
		ds.ClassNames[i] = cl.nameOf[wnid]
	}
	return nil
}

// readWnidFolders reads ImageNet-Sketch, ImageNet-A and ImageNet-R as CoOp's
// loaders do: one folder per class named by its wnid, labelled 0..n-1 in
// sorted folder order (not in classnames.txt order; the two agree for
// ImageNet's sorted wnids), named through classnames.txt. Wnids of
// classnames.txt without a folder are not classes (ImageNet-A and -R have
// 200 of ImageNet's 1000). Everything goes to Test.
func readWnidFolders(ds *Dataset, imageDir string) error {
	cl, err := readClassList(ds.Dir)
	if err != nil {
		return err
	}
	folders, err := classFolders(imageDir)
	if err != nil {
		return err
	}
	if len(folders) == 0 {
		return fmt.Errorf("image folder %s has no class folders", imageDir)
	}
	ds.ClassNames = make([]string, len(folders))
	for label, wnid := range folders {
		if ds.ClassNames[label], err = cl.name(imageDir, wnid); err != nil {
			return err
		}
		if ds.Test, err = appendClass(ds.Test, filepath.Join(imageDir, wnid), label, ds.ClassNames[label]); err != nil {
			return err
		}
	}
	return finishTestOnly(ds, imageDir)
}

// readNumberedFolders reads ImageNetV2 as CoOp's loader does: the images of
// label L are in the folder named L, and its class name is that of the L-th
// wnid of classnames.txt. CoOp fixes the class count at 1000; here it is the
// number of classnames.txt lines (1000 for ImageNet's file), every folder
// 0..n-1 must exist, and any other folder is an error, because it means
// classnames.txt is not the list the folders were numbered by.
func readNumberedFolders(ds *Dataset, imageDir string) error {
	cl, err := readClassList(ds.Dir)
	if err != nil {
		return err
	}
	folders, err := classFolders(imageDir)
	if err != nil {
		return err
	}
	n := len(cl.wnids)
	for _, f := range folders {
		if l, err := strconv.Atoi(f); err != nil || l < 0 || l >= n || strconv.Itoa(l) != f {
			return fmt.Errorf("folder %s is not a label 0..%d (%s lists %d classes)", filepath.Join(imageDir, f), n-1, cl.path, n)
		}
	}
	ds.ClassNames = make([]string, n)
	for label, wnid := range cl.wnids {
		dir := filepath.Join(imageDir, strconv.Itoa(label))
		if err := requireDir(dir, "class folder"); err != nil {
			return fmt.Errorf("%w (label %d, %s in %s)", err, label, wnid, cl.path)
		}
		ds.ClassNames[label] = cl.nameOf[wnid]
		if ds.Test, err = appendClass(ds.Test, dir, label, ds.ClassNames[label]); err != nil {
			return err
		}
	}
	return finishTestOnly(ds, imageDir)
}

// finishTestOnly marks a variant test-only, after checking it has images.
// Train and Val stay empty: fomo's loaders also hand the images to Dassl as
// train_x, only because Dassl requires one, and never train on them.
func finishTestOnly(ds *Dataset, imageDir string) error {
	if len(ds.Test) == 0 {
		return fmt.Errorf("image folder %s holds no images (in its %d class folders)", imageDir, len(ds.ClassNames))
	}
	ds.TestOnly = true
	return nil
}
