package sweeps

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanKeyLinesFollowsTablesArraysAndStrings(t *testing.T) {
	src := `# comment [not.a.table]
[grid]
name = "x" # trailing [comment]
text = """
[fake]
fake = 1 \"""
"""
lit = '''
[[experiment]]
'''

[[experiment]]
name = "a"
[experiment.axes]
n_ctx = [1, 2]

[[experiment]]
name = "b"
"quoted key" = 1
dotted . inner = 2
[experiment.axes]
weight_std = [
  0.001,   # first
  "two",
  0.08,
]
[[experiment.zip]]
lr = [1]
[[experiment.zip]]
epochs = [2, 3]
[experiment.dataset.imagenet]
epochs = 32
inline = { a = 1, b = [4,
  5] }
`
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		t.Fatalf("test document is not valid TOML: %v", err)
	}
	lines := scanKeyLines([]byte(src))
	want := map[string]int{
		"grid":                                       2,
		"grid.name":                                  3,
		"grid.text":                                  4,
		"grid.lit":                                   8,
		"experiment":                                 12,
		"experiment[0]":                              12,
		"experiment[0].name":                         13,
		"experiment[0].axes":                         14,
		"experiment[0].axes.n_ctx":                   15,
		"experiment[0].axes.n_ctx[1]":                15,
		"experiment[1]":                              17,
		"experiment[1].name":                         18,
		"experiment[1].quoted key":                   19,
		"experiment[1].dotted.inner":                 20,
		"experiment[1].axes":                         21,
		"experiment[1].axes.weight_std":              22,
		"experiment[1].axes.weight_std[0]":           23,
		"experiment[1].axes.weight_std[1]":           24,
		"experiment[1].axes.weight_std[2]":           25,
		"experiment[1].zip[0]":                       27,
		"experiment[1].zip[0].lr":                    28,
		"experiment[1].zip[1]":                       29,
		"experiment[1].zip[1].epochs[1]":             30,
		"experiment[1].dataset.imagenet":             31,
		"experiment[1].dataset.imagenet.epochs":      32,
		"experiment[1].dataset.imagenet.inline.b[1]": 34,
	}
	for path, line := range want {
		if got := lines[path]; got != line {
			t.Errorf("line of %s = %d, want %d", path, got, line)
		}
	}
	for _, fake := range []string{"fake", "not.a.table", "experiment[2]", "grid.fake"} {
		if _, ok := lines[fake]; ok {
			t.Errorf("%s recorded, but it is inside a string or comment", fake)
		}
	}
	// A key that is not written falls back to its table's header.
	if got := lines.find("experiment[1].axes.seed"); got != 21 {
		t.Errorf("find(missing key) = %d, want the header line 21", got)
	}
	if got := lines.find("experiment[1].zip[1].lr"); got != 29 {
		t.Errorf("find(missing zip key) = %d, want 29", got)
	}
}
