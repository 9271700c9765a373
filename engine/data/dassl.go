package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/fomo-grid/grid/engine/pickle"
)

// DasslFewShotFile is where Dassl caches a dataset's few-shot split:
// <dataset dir>/split_fewshot/shot_<k>-seed_<seed>.pkl, a pickle of
// {"train": [Datum, ...], "val": [Datum, ...]} (ImageNet's has no "val").
// A dataset folder that the seed's runs used holds them; grid reads them so
// that a reproduction trains on exactly the images the paper did.
func DasslFewShotFile(ds *Dataset, k int, seed int64) string {
	return filepath.Join(ds.Dir, "split_fewshot", fmt.Sprintf("shot_%d-seed_%d.pkl", k, seed))
}

// readDasslFewShot returns ds with the Train (and Val) of the Dassl pickle
// at file; found is false when there is no such file. Each Datum's impath
// is an absolute path on the machine that wrote it, so it is matched to
// the local item whose path relative to the dataset folder ends it; its
// label and class name must agree with that item.
func readDasslFewShot(ds *Dataset, file string) (out *Dataset, found bool, err error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("few-shot pickle: %w", err)
	}
	root, err := pickle.Unpickle(b, pickle.Options{})
	if err != nil {
		return nil, true, fmt.Errorf("few-shot pickle %s: %w", file, err)
	}
	top, ok := root.(*pickle.Dict)
	if !ok {
		return nil, true, fmt.Errorf("few-shot pickle %s holds a %s, not Dassl's dict of splits", file, pickle.Describe(root))
	}
	o := *ds
	parts := []struct {
		key  string
		full []Item
		dst  *[]Item
	}{{"train", ds.Train, &o.Train}, {"val", ds.Val, &o.Val}}
	for _, p := range parts {
		if p.key == "val" && ds.ValIsTest {
			continue // ImageNet: Dassl samples no val, and Val is the test split
		}
		v, ok := top.Get(p.key)
		if !ok {
			return nil, true, fmt.Errorf("few-shot pickle %s has no %q list", file, p.key)
		}
		if *p.dst, err = matchDatums(v, p.full, ds.Dir); err != nil {
			return nil, true, fmt.Errorf("few-shot pickle %s: %s: %w", file, p.key, err)
		}
	}
	return &o, true, nil
}

// matchDatums turns a pickled list of Datum objects into the local items
// they name.
func matchDatums(v any, full []Item, dir string) ([]Item, error) {
	list, ok := v.(*pickle.List)
	if !ok {
		return nil, fmt.Errorf("a %s, not a list of Datum", pickle.Describe(v))
	}
	byRel := make(map[string]Item, len(full))
	for _, it := range full {
		rel, err := filepath.Rel(dir, it.Path)
		if err != nil {
			return nil, err
		}
		byRel[filepath.ToSlash(rel)] = it
	}
	out := make([]Item, 0, len(list.Items))
	for i, d := range list.Items {
		impath, label, classname, err := datumFields(d)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		it, ok := localItem(byRel, impath)
		if !ok {
			return nil, fmt.Errorf("item %d: %s is in no split entry of this dataset folder", i, impath)
		}
		if it.Label != label || it.ClassName != classname {
			return nil, fmt.Errorf("item %d: %s is label %d (%s) in the pickle but %d (%s) in the split file", i, impath, label, classname, it.Label, it.ClassName)
		}
		out = append(out, it)
	}
	return out, nil
}

// localItem finds the item whose dataset-relative path is the longest
// suffix of impath that names one, "/"-separated.
func localItem(byRel map[string]Item, impath string) (Item, bool) {
	rest := strings.TrimLeft(path.Clean(filepath.ToSlash(impath)), "/")
	for rest != "" {
		if it, ok := byRel[rest]; ok {
			return it, true
		}
		_, after, found := strings.Cut(rest, "/")
		if !found {
			break
		}
		rest = after
	}
	return Item{}, false
}

// datumFields reads a Dassl Datum's attributes (_impath, _label,
// _classname), as its __dict__ was pickled.
func datumFields(v any) (impath string, label int, classname string, err error) {
	obj, ok := v.(*pickle.Object)
	if !ok || !strings.HasSuffix(obj.Class.Name, "Datum") {
		return "", 0, "", fmt.Errorf("a %s, not a Datum", pickle.Describe(v))
	}
	state, ok := obj.State.(*pickle.Dict)
	if !ok {
		return "", 0, "", fmt.Errorf("a Datum without attributes")
	}
	get := func(key string) any { x, _ := state.Get(key); return x }
	impath, ok1 := get("_impath").(string)
	lab, ok2 := get("_label").(int64)
	classname, ok3 := get("_classname").(string)
	if !ok1 || !ok2 || !ok3 {
		return "", 0, "", fmt.Errorf("a Datum whose _impath, _label or _classname is missing or mistyped")
	}
	return impath, int(lab), classname, nil
}
