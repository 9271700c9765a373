package report

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// paperOrder is the order of datasets in the paper's tables (CoOp's and
// CoCoOp's): ImageNet, then the ten fine-grained and specialised sets, then
// the ImageNet variants; other datasets (the demo's) follow by name.
var paperOrder = []string{
	"imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
	"fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
	"imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r",
}

// paperNames are the datasets' names in the paper's tables.
var paperNames = map[string]string{
	"imagenet": "ImageNet", "caltech101": "Caltech101", "oxford_pets": "OxfordPets",
	"stanford_cars": "StanfordCars", "oxford_flowers": "Flowers102", "food101": "Food101",
	"fgvc_aircraft": "FGVCAircraft", "sun397": "SUN397", "dtd": "DTD", "eurosat": "EuroSAT",
	"ucf101": "UCF101", "imagenetv2": "ImageNetV2", "imagenet_sketch": "ImageNet-Sketch",
	"imagenet_a": "ImageNet-A", "imagenet_r": "ImageNet-R",
}

// displayName is the paper's name of a dataset, or the grid's.
func displayName(ds string) string {
	if n, ok := paperNames[ds]; ok {
		return n
	}
	return ds
}

// sortDatasets orders dataset names as the paper does.
func sortDatasets(names []string) {
	rank := func(n string) int {
		for i, p := range paperOrder {
			if p == n {
				return i
			}
		}
		return len(paperOrder)
	}
	sort.SliceStable(names, func(a, b int) bool {
		ra, rb := rank(names[a]), rank(names[b])
		if ra != rb {
			return ra < rb
		}
		return names[a] < names[b]
	})
}

// nameCells labels each cell by the swept values that differ among them
// ("n_ctx=2, weight_std=0.08"), leaving out the keys in skip. Cells with no
// swept value are named by their experiments; cells the labels cannot tell
// apart get their first job's name.
func nameCells(cells []*cell, skip ...string) {
	if len(cells) == 0 {
		return
	}
	keys := varyingKeys(cells, skip)
	seen := map[string]int{}
	for _, c := range cells {
		var parts []string
		for _, k := range keys {
			if v, ok := c.labels[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		c.label = strings.Join(parts, ", ")
		if c.label == "" {
			c.label = strings.Join(c.experiments, "+")
		}
		if c.label == "" {
			c.label = "default"
		}
		seen[c.label]++
	}
	for _, c := range cells {
		if seen[c.label] > 1 {
			c.label = c.runs[0].train.job.Name
		}
	}
}

// varyingKeys are the label keys whose values differ among the cells; when
// none differ, every key (a lone cell is named by all its values).
func varyingKeys(cells []*cell, skip []string) []string {
	all := map[string]bool{}
	for _, c := range cells {
		for k := range c.labels {
			if !contains(skip, k) {
				all[k] = true
			}
		}
	}
	var keys []string
	for k := range all {
		first, has := cells[0].labels[k]
		for _, c := range cells[1:] {
			if v, ok := c.labels[k]; ok != has || v != first {
				keys = append(keys, k)
				break
			}
		}
	}
	if len(keys) == 0 {
		for k := range all {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// slug makes a name safe as part of a file name.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == "" {
		return "dataset"
	}
	return out
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func itoa(n int) string { return strconv.Itoa(n) }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
