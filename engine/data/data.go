// Package data is the dataset side of the DPT engine, following the CoOp
// protocol that fomo inherits from Dassl: the eleven CoOp datasets, the four
// test-only ImageNet variants and two synthetic demo sets, read from their
// published layouts; few-shot sampling, the base/new class split, and the
// train/test image pipelines (PIL-exact bicubic resize, Dassl's RandAugment,
// CLIP normalisation) backed by an on-disk cache of decoded images shared by
// every job on a machine.
//
// Paths: every Item.Path is absolute (the data root is made absolute when the
// dataset is opened), so items can be handed to any worker process unchanged.
//
// Fidelity to fomo's Python pipeline (PIL + torchvision + Dassl):
//   - Resize, centre crop, every RandAugment op, ToTensor and Normalize are
//     written by hand after Pillow's C code and return Pillow's bytes exactly
//     for the same input pixels (checked against Pillow 9.4; see
//     pillow_golden_test.go). No Go library reproduces Pillow's fixed-point
//     resampler or its ImageOps/ImageEnhance arithmetic.
//   - JPEG: Go's image/jpeg decodes, then libjpeg's fancy chroma upsampling
//     and colour tables finish the job; the two IDCTs still round
//     differently, so a few percent of values differ from PIL's by 1-3 levels.
//   - Few-shot samples are CPython's: MT19937 and random.sample
//     (engine/pyrandom), so the same seed picks the same images as fomo;
//     a split_fewshot pickle Dassl left in the dataset folder is read.
//     Training order and augmentation draws come from math/rand/v2 (PCG):
//     deterministic per seed, but not torch.randperm's.
//   - ImageNet and its variants' files are listed sorted (CoOp uses
//     os.listdir order).
package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Item is one labelled image of a split.
type Item struct {
	Path      string // absolute path of the image file
	Label     int    // 0-based class index into Dataset.ClassNames
	ClassName string // raw class name, as the dataset files give it
}

// PromptName is the class name as it goes into a prompt.
func (it Item) PromptName() string { return PromptName(it.ClassName) }

// PromptName turns a raw CoOp class name into prompt text: CoOp's trainers
// replace underscores with spaces ("american_bulldog" -> "american bulldog").
func PromptName(className string) string { return strings.ReplaceAll(className, "_", " ") }

// Dataset is one dataset's three splits and its class names.
type Dataset struct {
	Name       string // grid name: "oxford_pets", "imagenet", "demo", ...
	Dir        string // absolute dataset directory, <root>/<folder>
	Train      []Item
	Val        []Item
	Test       []Item
	ClassNames []string // index = label; raw names (see PromptName)
	// ValIsTest is set for ImageNet, which has no validation split: Val is
	// the test split (as in CoOp), and few-shot sampling leaves it alone.
	ValIsTest bool
	// TestOnly is set for the ImageNet variants (imagenetv2, imagenet_sketch,
	// imagenet_a, imagenet_r), which only serve as transfer targets: Test
	// holds every image and Train and Val are empty.
	TestOnly bool
}

// NumClasses is the number of classes (labels 0..NumClasses-1).
func (d *Dataset) NumClasses() int { return len(d.ClassNames) }

// PromptNames are the class names with underscores replaced by spaces.
func (d *Dataset) PromptNames() []string {
	out := make([]string, len(d.ClassNames))
	for i, n := range d.ClassNames {
		out[i] = PromptName(n)
	}
	return out
}

// layoutKind says how a dataset's splits are stored.
type layoutKind int

const (
	layoutJSON            layoutKind = iota // split_zhou_*.json
	layoutAircraft                          // variants.txt + images_variant_*.txt
	layoutImageNet                          // classnames.txt + images/{train,val}/<wnid>/
	layoutNumberedFolders                   // classnames.txt + <label>/ (ImageNetV2; test only)
	layoutWnidFolders                       // classnames.txt + <wnid>/ (ImageNet-Sketch, -A, -R; test only)
)

// layout is where one dataset lives under the data root (CoOp's DATASETS.md).
type layout struct {
	folder   string // folder under the data root
	imageDir string // image folder inside it; "" = the dataset folder itself
	split    string // split file (layoutJSON)
	kind     layoutKind
}

var layouts = map[string]layout{
	DemoName:         {folder: "demo", imageDir: "images", split: "split_zhou_Demo.json"},
	DemoShiftedName:  {folder: "demo_b", imageDir: "images", split: "split_zhou_DemoB.json"},
	"caltech101":     {folder: "caltech-101", imageDir: "101_ObjectCategories", split: "split_zhou_Caltech101.json"},
	"oxford_pets":    {folder: "oxford_pets", imageDir: "images", split: "split_zhou_OxfordPets.json"},
	"stanford_cars":  {folder: "stanford_cars", imageDir: "", split: "split_zhou_StanfordCars.json"},
	"oxford_flowers": {folder: "oxford_flowers", imageDir: "jpg", split: "split_zhou_OxfordFlowers.json"},
	"food101":        {folder: "food-101", imageDir: "images", split: "split_zhou_Food101.json"},
	"sun397":         {folder: "sun397", imageDir: "SUN397", split: "split_zhou_SUN397.json"},
	"dtd":            {folder: "dtd", imageDir: "images", split: "split_zhou_DescribableTextures.json"},
	"eurosat":        {folder: "eurosat", imageDir: "2750", split: "split_zhou_EuroSAT.json"},
	"ucf101":         {folder: "ucf101", imageDir: "UCF-101-midframes", split: "split_zhou_UCF101.json"},
	"fgvc_aircraft":  {folder: "fgvc_aircraft", imageDir: "images", kind: layoutAircraft},
	"imagenet":       {folder: "imagenet", imageDir: "images", kind: layoutImageNet},

	"imagenetv2":      {folder: "imagenetv2", imageDir: "imagenetv2-matched-frequency-format-val", kind: layoutNumberedFolders},
	"imagenet_sketch": {folder: "imagenet-sketch", imageDir: "images", kind: layoutWnidFolders},
	"imagenet_a":      {folder: "imagenet-adversarial", imageDir: "imagenet-a", kind: layoutWnidFolders},
	"imagenet_r":      {folder: "imagenet-rendition", imageDir: "imagenet-r", kind: layoutWnidFolders},
}

// Names lists the dataset names Open accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(layouts))
	for n := range layouts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open reads dataset name from its CoOp layout under root. Images are not
// opened here (a missing or corrupt image is reported, with its path, when
// it is first loaded); the split files, class-name files and image folders
// are, and an error names the one that is missing or malformed.
func Open(root, name string) (*Dataset, error) {
	lay, ok := layouts[name]
	if !ok {
		return nil, fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: data root %q: %w", name, root, err)
	}
	if err := requireDir(absRoot, "data root"); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	ds := &Dataset{Name: name, Dir: filepath.Join(absRoot, lay.folder)}
	if err := requireDir(ds.Dir, "dataset folder"); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	imageDir := filepath.Join(ds.Dir, lay.imageDir)
	if err := requireDir(imageDir, "image folder"); err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	switch lay.kind {
	case layoutJSON:
		err = readJSONSplit(ds, filepath.Join(ds.Dir, lay.split), imageDir)
	case layoutAircraft:
		err = readAircraft(ds, imageDir)
	case layoutImageNet:
		err = readImageNet(ds, imageDir)
	case layoutNumberedFolders:
		err = readNumberedFolders(ds, imageDir)
	case layoutWnidFolders:
		err = readWnidFolders(ds, imageDir)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", name, err)
	}
	return ds, nil
}

func requireDir(path, what string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("missing %s %s", what, path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s is not a directory", what, path)
	}
	return nil
}

func readRequired(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("missing %s %s", what, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

// readJSONSplit reads a CoOp split file {"train":[[relpath,label,classname],
// ...],"val":...,"test":...}; paths are relative to imageDir.
func readJSONSplit(ds *Dataset, path, imageDir string) error {
	b, err := readRequired(path, "split file")
	if err != nil {
		return err
	}
	var raw map[string][]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("split file %s: %w", path, err)
	}
	for _, key := range []string{"train", "test"} {
		if _, ok := raw[key]; !ok {
			return fmt.Errorf("split file %s: no %q list", path, key)
		}
	}
	splits := map[string]*[]Item{"train": &ds.Train, "val": &ds.Val, "test": &ds.Test}
	for key, dst := range splits {
		entries := raw[key]
		items := make([]Item, 0, len(entries))
		for i, e := range entries {
			it, err := parseSplitEntry(e)
			if err != nil {
				return fmt.Errorf("split file %s: %s[%d]: %w", path, key, i, err)
			}
			it.Path = filepath.Join(imageDir, filepath.FromSlash(it.Path))
			items = append(items, it)
		}
		*dst = items
	}
	names, err := classNamesFromItems(ds.Train, ds.Val, ds.Test)
	if err != nil {
		return fmt.Errorf("split file %s: %w", path, err)
	}
	ds.ClassNames = names
	return nil
}

// parseSplitEntry reads one [relpath, label, classname] triple; Item.Path is
// left relative.
func parseSplitEntry(raw json.RawMessage) (Item, error) {
	var fields []json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || len(fields) != 3 {
		return Item{}, fmt.Errorf("want [path, label, classname], got %s", abbreviate(raw))
	}
	var it Item
	if err := json.Unmarshal(fields[0], &it.Path); err != nil || it.Path == "" {
		return Item{}, fmt.Errorf("path is not a non-empty string: %s", abbreviate(fields[0]))
	}
	var label json.Number
	if err := json.Unmarshal(fields[1], &label); err != nil {
		return Item{}, fmt.Errorf("label is not a number: %s", abbreviate(fields[1]))
	}
	l, err := label.Int64()
	if err != nil || l < 0 || l > 1<<30 {
		return Item{}, fmt.Errorf("label %s is not a non-negative integer", label)
	}
	it.Label = int(l)
	if err := json.Unmarshal(fields[2], &it.ClassName); err != nil {
		return Item{}, fmt.Errorf("classname is not a string: %s", abbreviate(fields[2]))
	}
	return it, nil
}

func abbreviate(b []byte) string {
	const n = 60
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// classNamesFromItems maps labels 0..max to their names; every label must
// have exactly one name.
func classNamesFromItems(splits ...[]Item) ([]string, error) {
	byLabel := map[int]string{}
	maxLabel := -1
	for _, items := range splits {
		for _, it := range items {
			if prev, ok := byLabel[it.Label]; ok && prev != it.ClassName {
				return nil, fmt.Errorf("label %d is named both %q and %q", it.Label, prev, it.ClassName)
			}
			byLabel[it.Label] = it.ClassName
			maxLabel = max(maxLabel, it.Label)
		}
	}
	if maxLabel < 0 {
		return nil, errors.New("no items")
	}
	names := make([]string, maxLabel+1)
	for l := range names {
		n, ok := byLabel[l]
		if !ok {
			return nil, fmt.Errorf("label %d has no item (labels must be 0..%d)", l, maxLabel)
		}
		names[l] = n
	}
	return names, nil
}

// readAircraft reads FGVC-Aircraft as CoOp does: variants.txt lists the class
// names (line index = label; blank lines are skipped) and
// images_variant_{train,val,test}.txt hold lines "<image id> <variant name>"
// for images/<id>.jpg.
func readAircraft(ds *Dataset, imageDir string) error {
	variantsPath := filepath.Join(ds.Dir, "variants.txt")
	b, err := readRequired(variantsPath, "class list")
	if err != nil {
		return err
	}
	labelOf := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		name := strings.TrimSpace(line)
		if name == "" {
			continue
		}
		if _, dup := labelOf[name]; dup {
			return fmt.Errorf("class list %s: %q appears twice", variantsPath, name)
		}
		labelOf[name] = len(ds.ClassNames)
		ds.ClassNames = append(ds.ClassNames, name)
	}
	if len(ds.ClassNames) == 0 {
		return fmt.Errorf("class list %s is empty", variantsPath)
	}
	for _, sp := range []struct {
		file string
		dst  *[]Item
	}{
		{"images_variant_train.txt", &ds.Train},
		{"images_variant_val.txt", &ds.Val},
		{"images_variant_test.txt", &ds.Test},
	} {
		path := filepath.Join(ds.Dir, sp.file)
		b, err := readRequired(path, "split file")
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			id, name, ok := strings.Cut(line, " ")
			if !ok {
				return fmt.Errorf("split file %s:%d: want \"<image id> <variant>\", got %q", path, i+1, line)
			}
			label, ok := labelOf[name]
			if !ok {
				return fmt.Errorf("split file %s:%d: variant %q is not in %s", path, i+1, name, variantsPath)
			}
			*sp.dst = append(*sp.dst, Item{Path: filepath.Join(imageDir, id+".jpg"), Label: label, ClassName: name})
		}
	}
	return nil
}
