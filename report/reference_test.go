package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "published.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Published numbers come in as a table and as reference lines on the
// dataset's accuracy figure; H is computed when the paper gives B and N.
func TestPublishedReferences(t *testing.T) {
	csv := writeCSV(t, "method,dataset,base,new,h\nCoOp,eurosat,92.19,54.74,\nCoCoOp,eurosat,,,71.21\n")
	dir, _ := writeReport(t, studyFixture(t), Options{Plots: true, References: csv})
	rows := tableFile(t, dir, "references")
	if len(rows) != 2 || strings.Join(rows[0], "|") != "CoOp|EuroSAT|92.19|54.74|68.69" || strings.Join(rows[1], "|") != "CoCoOp|EuroSAT|—|—|71.21" {
		t.Errorf("references %q", rows)
	}
	svg := readFile(t, filepath.Join(dir, "accuracy-eurosat.svg"))
	for _, want := range []string{"CoOp H (published)", "CoCoOp H (published)", "zero-shot H"} {
		if !strings.Contains(svg, want) {
			t.Errorf("accuracy figure lacks the reference line %q", want)
		}
	}
	if svg := readFile(t, filepath.Join(dir, "accuracy-dtd.svg")); strings.Contains(svg, "published") {
		t.Error("eurosat's published numbers are drawn on dtd's figure")
	}
}

func TestPublishedReferencesErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ csv, want string }{
		{"method,dataset,base\nCoOp,eurosat,90\n", `:1: header "method,dataset,base" lacks column "new"`},
		{"method,dataset,base,new\nCoOp,eurosat,90,50\nCoOp,dtd,abc,50\n", `:3: base: "abc" is not a percentage`},
		{"method,dataset,base,new\nCoOp,eurosat,90,\n", ":2: give base and new, or h"},
		{"method,dataset,base,new\n,eurosat,90,50\n", ":2: method and dataset must not be empty"},
	} {
		p := writeCSV(t, c.csv)
		_, err := readReferences(p)
		if err == nil || !strings.Contains(err.Error(), p+c.want) {
			t.Errorf("%q: error %v, want %q", c.csv, err, p+c.want)
		}
	}
}
