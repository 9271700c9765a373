package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"text/tabwriter"
)

// grid plan and grid status align their columns as text/tabwriter does
// (padding 2, spaces), which scripts and eyes rely on, without its cost.
func TestWriteTableMatchesTabwriter(t *testing.T) {
	rows := [][]string{
		{"STATE", "KIND", "NAME", "NOTE"},
		{"done", "train", "e/demo/n_ctx=2,lr=0.002/train", ""},
		{"failed", "eval", "e/demo/n_ctx=10/new", "worker crashed — signal: killed"},
		{"new", "eval", "ümlaut/ç", "last column is not padded"},
	}
	var want bytes.Buffer
	tw := tabwriter.NewWriter(&want, 0, 0, 2, ' ', 0)
	var cells []string
	for _, r := range rows {
		tw.Write([]byte(strings.Join(r, "\t") + "\n"))
		cells = append(cells, r...)
	}
	tw.Flush()
	var got bytes.Buffer
	w := bufio.NewWriter(&got)
	writeTable(w, cells, len(rows[0]))
	w.Flush()
	if got.String() != want.String() {
		t.Errorf("table\n%s\nwant (text/tabwriter)\n%s", got.String(), want.String())
	}
}
