package data

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/fomo-grid/grid/engine/pyrandom"
	"github.com/fomo-grid/grid/internal/atomicfile"
	"github.com/fomo-grid/grid/internal/study"
)

// FewShot samples k items of every class exactly as Dassl's
// generate_fewshot_dataset does after random.seed(seed): items are grouped
// by label in order of first appearance, and each class with at least k
// items contributes random.sample(items, k) (in the order drawn), a class
// with fewer all of its items (Dassl's repeat=False). k <= 0 returns all
// items. The draws are CPython's MT19937 (engine/pyrandom), so the shots are
// the seed's own for the same split file and seed.
func FewShot(items []Item, k int, seed int64) []Item {
	return fewShot(pyrandom.New(seed), items, k)
}

func fewShot(rng *pyrandom.Random, items []Item, k int) []Item {
	if k <= 0 {
		return slices.Clone(items)
	}
	var order []int
	byLabel := map[int][]Item{}
	for _, it := range items {
		if _, seen := byLabel[it.Label]; !seen {
			order = append(order, it.Label)
		}
		byLabel[it.Label] = append(byLabel[it.Label], it)
	}
	out := make([]Item, 0, min(len(items), k*len(order)))
	for _, label := range order {
		group := byLabel[label]
		if len(group) < k {
			out = append(out, group...)
			continue
		}
		drawn, err := pyrandom.Sample(rng, group, k)
		if err != nil {
			panic(err) // unreachable: len(group) >= k > 0
		}
		out = append(out, drawn...)
	}
	return out
}

// FewShotFile is where FewShotCached keeps the shots of ds:
// <cacheDir>/fewshot-mt/<name>-<hash of the dataset dir>/shot_<k>-seed_<seed>.json.
// The hash keeps two data roots holding different copies of a dataset apart;
// "-mt" keeps the files of an older grid, drawn with another generator, out.
func FewShotFile(ds *Dataset, k int, seed int64, cacheDir string) string {
	sum := sha256.Sum256([]byte(ds.Dir))
	return filepath.Join(cacheDir, "fewshot-mt", ds.Name+"-"+hex.EncodeToString(sum[:4]),
		fmt.Sprintf("shot_%d-seed_%d.json", k, seed))
}

// FewShotCached returns a copy of ds whose Train holds k shots per class
// (FewShot with this seed) and whose Val holds min(k, 4) per class (drawn
// after Train from the same random stream, as Dassl does; ImageNet's Val is
// its test split and is left alone). Test is unchanged. k <= 0 returns ds;
// k > 0 on a test-only dataset (an ImageNet variant) is an error.
//
// Where the shots come from, first found first:
//   - <dataset dir>/split_fewshot/shot_<k>-seed_<seed>.pkl, the pickle Dassl
//     wrote when the seed's runs used this dataset folder (DasslFewShotFile);
//   - FewShotFile in cacheDir, written by an earlier job;
//   - a fresh draw, then stored in FewShotFile as {"train": [[path, label,
//     classname], ...], "val": [...]} with paths relative to ds.Dir,
//     atomically, so concurrent jobs never see a partial file.
//
// A stored sample is used as is: every item it lists must still be in ds,
// otherwise the error names the file (delete a cache file to resample).
// cacheDir must be writable (the data root may not be); the trainer passes
// e.g. $GRID_CACHE_DIR or the user cache directory.
func FewShotCached(ds *Dataset, k int, seed int64, cacheDir string) (*Dataset, error) {
	if k <= 0 {
		return ds, nil
	}
	if ds.TestOnly {
		return nil, fmt.Errorf("dataset %s is test-only (a transfer target): it has no training images to sample %d shots from", ds.Name, k)
	}
	if out, found, err := readDasslFewShot(ds, DasslFewShotFile(ds, k, seed)); found || err != nil {
		return out, err
	}
	path := FewShotFile(ds, k, seed, cacheDir)
	out := *ds
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := loadFewShot(&out, ds, b); err != nil {
			return nil, fmt.Errorf("few-shot file %s: %w (delete it to resample)", path, err)
		}
		return &out, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("few-shot file: %w", err)
	}
	rng := pyrandom.New(seed)
	out.Train = fewShot(rng, ds.Train, k)
	file := fewShotJSON{Train: toEntries(ds.Dir, out.Train)}
	if !ds.ValIsTest {
		out.Val = fewShot(rng, ds.Val, min(k, 4))
		file.Val = toEntries(ds.Dir, out.Val)
	}
	if b, err = json.Marshal(file); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, b); err != nil {
		return nil, fmt.Errorf("few-shot file: %w", err)
	}
	return &out, nil
}

type fewShotJSON struct {
	Train [][3]any `json:"train"`
	Val   [][3]any `json:"val,omitempty"`
}

func toEntries(dir string, items []Item) [][3]any {
	out := make([][3]any, len(items))
	for i, it := range items {
		rel, err := filepath.Rel(dir, it.Path)
		if err != nil {
			rel = it.Path
		}
		out[i] = [3]any{filepath.ToSlash(rel), it.Label, it.ClassName}
	}
	return out
}

// loadFewShot fills out.Train (and out.Val) from a stored sample, checking
// every entry against the full splits of ds.
func loadFewShot(out, ds *Dataset, b []byte) error {
	var raw map[string][]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if _, ok := raw["train"]; !ok {
		return errors.New(`no "train" list`)
	}
	parse := func(key string, full []Item) ([]Item, error) {
		known := make(map[string]Item, len(full))
		for _, it := range full {
			known[it.Path] = it
		}
		items := make([]Item, 0, len(raw[key]))
		for i, e := range raw[key] {
			it, err := parseSplitEntry(e)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
			}
			it.Path = filepath.Join(ds.Dir, filepath.FromSlash(it.Path))
			if k, ok := known[it.Path]; !ok || k != it {
				return nil, fmt.Errorf("%s[%d]: %s (label %d) is not in the %s split of %s", key, i, it.Path, it.Label, key, ds.Name)
			}
			items = append(items, it)
		}
		return items, nil
	}
	var err error
	if out.Train, err = parse("train", ds.Train); err != nil {
		return err
	}
	if !ds.ValIsTest {
		if out.Val, err = parse("val", ds.Val); err != nil {
			return err
		}
	}
	return nil
}

// SubsampleClasses keeps one half of the classes, as CoOp's
// OxfordPets.subsample_classes does: the sorted unique labels of Train are
// split at m = ceil(n/2); "base" keeps the first m, "new" the rest, and "all"
// returns ds unchanged. The kept labels are renumbered 0..|kept|-1 in sorted
// order in Train, Val and Test (items of other labels are dropped), and
// ClassNames are taken from the relabelled Train items. "base" and "new" on
// a test-only dataset (an ImageNet variant) are an error.
func SubsampleClasses(ds *Dataset, which study.Classes) (*Dataset, error) {
	switch which {
	case study.ClassesAll:
		return ds, nil
	case study.ClassesBase, study.ClassesNew:
	default:
		return nil, fmt.Errorf("classes %q: want %q, %q or %q", which, study.ClassesBase, study.ClassesNew, study.ClassesAll)
	}
	// CoOp's variant loaders ignore SUBSAMPLE_CLASSES and test on every
	// class, so base/new has no reference meaning for them; refusing it beats
	// silently testing all classes under a "new" label.
	if ds.TestOnly {
		return nil, fmt.Errorf("dataset %s is test-only: it has no training split to divide into base and new classes (use classes = %q)", ds.Name, study.ClassesAll)
	}
	seen := map[int]bool{}
	var labels []int
	for _, it := range ds.Train {
		if !seen[it.Label] {
			seen[it.Label] = true
			labels = append(labels, it.Label)
		}
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("dataset %s: no training items to split into base and new classes", ds.Name)
	}
	sort.Ints(labels)
	m := (len(labels) + 1) / 2
	kept := labels[:m]
	if which == study.ClassesNew {
		kept = labels[m:]
	}
	relabel := make(map[int]int, len(kept))
	for i, l := range kept {
		relabel[l] = i
	}
	filter := func(items []Item) []Item {
		out := make([]Item, 0, len(items))
		for _, it := range items {
			if nl, ok := relabel[it.Label]; ok {
				it.Label = nl
				out = append(out, it)
			}
		}
		return out
	}
	out := *ds
	out.Train = filter(ds.Train)
	out.Val = filter(ds.Val)
	out.Test = filter(ds.Test)
	out.ClassNames = make([]string, len(kept))
	for _, it := range out.Train {
		out.ClassNames[it.Label] = it.ClassName
	}
	return &out, nil
}

// writeFileAtomic makes path's folder and writes b to path atomically and
// durably, mode 0644 (atomicfile), so readers see either no file or the
// whole file, also after a crash.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// writeRebuildable is writeFileAtomic for files whose reader checks them and
// rebuilds them when missing or wrong (cached images, the demo dataset):
// atomic, not fsynced (atomicfile.WriteRebuildable).
func writeRebuildable(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteRebuildable(path, b, 0o644)
}
