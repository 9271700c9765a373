package report

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

// studyFixture is a study with known numbers: a grid search on two
// datasets over seeds (with a failed seed, a cell whose new-class test
// failed), zero-shot baselines, an ablation variant, a cross-dataset source
// with full and projection-free transfers, and a second grid in the same
// database holding another dataset's ablation.
//
// Expected values below were computed by hand (Python's statistics module):
// H = 2BN/(B+N) per seed, then mean and sample std over seeds.
func studyFixture(t *testing.T) *fixture {
	f := newFixture(t)
	n := func(v string) map[string]string { return map[string]string{"n_ctx": v} }
	// eurosat, n_ctx=1: three seeds. H 76.68 ± 2.01, (B+N)/2 77.00 ± 2.00.
	f.b2n("e1s1", "eurosat", study.VariantFull, 1, n("1"), 80, 70)
	f.b2n("e1s2", "eurosat", study.VariantFull, 2, n("1"), 82, 72)
	f.b2n("e1s3", "eurosat", study.VariantFull, 3, n("1"), 84, 74)
	// n_ctx=2: seeds 1 and 2 done (H 83.70 ± 1.42), seed 3's training failed.
	f.b2n("e2s1", "eurosat", study.VariantFull, 1, n("2"), 90, 80)
	f.b2n("e2s2", "eurosat", study.VariantFull, 2, n("2"), 88, 78)
	f.train("e2s3", "eurosat", study.ClassesBase, study.VariantFull, 3, n("2"))
	f.eval("e2s3-new", "e2s3", "eurosat", study.ClassesNew, study.VariantFull)
	// n_ctx=4: trained, but its new-class test failed: not ranked.
	f.train("e4s1", "eurosat", study.ClassesBase, study.VariantFull, 1, n("4"))
	f.eval("e4s1-new", "e4s1", "eurosat", study.ClassesNew, study.VariantFull)
	// The ablation variant of n_ctx=2, seeds 1 and 2 (paired with the full
	// method's): Δ base -3.50 ± 2.12, Δ new +3.50 ± 0.71, Δ H +0.27 ± 1.39.
	f.b2n("v1", "eurosat", study.VariantNoShared, 1, n("2"), 85, 83, "ablate")
	f.b2n("v2", "eurosat", study.VariantNoShared, 2, n("2"), 86, 82, "ablate")
	// dtd, n_ctx=1: H 55.55 ± 1.43.
	f.b2n("d1s1", "dtd", study.VariantFull, 1, n("1"), 60, 50)
	f.b2n("d1s2", "dtd", study.VariantFull, 2, n("1"), 62, 52)
	// Zero-shot: eurosat base 70, new 60 (H 64.62); caltech101 all 90.
	f.zeroshot("zs-e-base", "eurosat", study.ClassesBase)
	f.zeroshot("zs-e-new", "eurosat", study.ClassesNew)
	f.zeroshot("zs-c-all", "caltech101", study.ClassesAll)
	// ImageNet on all classes, seeds 1 and 2, tested on dtd, caltech101 and
	// eurosat (listed out of the paper's order) with and without the
	// visual prompts.
	for seed, own := range map[int]float64{1: 70, 2: 72} {
		id := "i" + itoa(seed)
		f.train(id, "imagenet", study.ClassesAll, study.VariantFull, seed, n("2"), "source")
		for _, tg := range []string{"dtd", "caltech101", "eurosat"} {
			f.eval(id+"-"+tg, id, tg, study.ClassesAll, study.VariantFull, "crossds")
			f.eval(id+"-"+tg+"-pf", id, tg, study.ClassesAll, study.VariantNoShared, "crossds_projfree")
		}
		f.after = append(f.after, func() { f.done(id, study.ClassesAll, "imagenet", own, "conveniently photograph") })
	}
	f.sync()
	f.fail("e2s3", "CUDA out of memory")
	f.done("e4s1", study.ClassesBase, "eurosat", 91, "n4", 2, 1)
	f.fail("e4s1-new", "checkpoint unreadable")
	f.done("zs-e-base", study.ClassesBase, "eurosat", 70, "")
	f.done("zs-e-new", study.ClassesNew, "eurosat", 60, "")
	f.done("zs-c-all", study.ClassesAll, "caltech101", 90, "")
	// full: caltech101 94.00 ± 1.41, dtd 42.00 ± 2.83, eurosat 42.00 ± 1.41;
	// projection-free: caltech101 92.00 ± 0.00, dtd 39.00 ± 1.41, eurosat
	// only seed 1 (37; seed 2 failed).
	for id, acc := range map[string]float64{"i1-caltech101": 93, "i2-caltech101": 95, "i1-dtd": 40, "i2-dtd": 44,
		"i1-eurosat": 41, "i2-eurosat": 43, "i1-caltech101-pf": 92, "i2-caltech101-pf": 92, "i1-dtd-pf": 38,
		"i2-dtd-pf": 40, "i1-eurosat-pf": 37} {
		tg := strings.TrimSuffix(strings.SplitN(id, "-", 2)[1], "-pf")
		f.done(id, study.ClassesAll, tg, acc, "")
	}
	f.fail("i2-eurosat-pf", "worker died")

	// A second grid of the same study: dtd's ablation (n_ctx=3, seed 1):
	// nofilter against full, Δ base -2, Δ new -5, Δ H -3.69.
	other := f.newGrid("ablate_dtd")
	f.b2n("a-full", "dtd", study.VariantFull, 1, n("3"), 60, 55, "ablate_dtd")
	f.b2n("a-nofilter", "dtd", study.VariantNoFilter, 1, n("3"), 58, 50, "ablate_dtd")
	f.sync(other)
	return f
}

func TestGridTableMeansOverSeeds(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{})
	rows := tableFile(t, dir, "grid-eurosat")
	// rank H, rank (B+N)/2, configuration, seeds, base, new, (B+N)/2, H, Δ H, gap, prompt, state
	want := [][]string{
		{"1", "1", "n_ctx=2", "2", "89.00 ± 1.41", "79.00 ± 1.41", "84.00 ± 1.41", "83.70 ± 1.42", "+19.09 ± 1.42", "+0.00"},
		{"2", "2", "n_ctx=1", "3", "82.00 ± 2.00", "72.00 ± 2.00", "77.00 ± 2.00", "76.68 ± 2.01", "+12.06 ± 2.01", "-7.03"},
		{"—", "—", "n_ctx=4", "0", "—", "—", "—", "—", "—", "—"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d (the variant is not a grid cell): %q", len(rows), len(want), rows)
	}
	for i, w := range want {
		if got := rows[i][:len(w)]; !slices.Equal(got, w) {
			t.Errorf("row %d = %q\nwant %q", i, got, w)
		}
	}
	if got := rows[0][10]; got != "`prompt e2s1 / prompt e2s2`" {
		t.Errorf("prompt of n_ctx=2: %q, want each seed's", got)
	}
	if got := rows[0][11]; !strings.HasPrefix(got, "2/3 seeds done; seed 3: train failed after 1 attempt: CUDA out of memory") {
		t.Errorf("state of n_ctx=2: %q", got)
	}
	if got := rows[2][11]; !strings.Contains(got, "0/1 seeds done; seed 1: new failed after 1 attempt: checkpoint unreadable") {
		t.Errorf("state of n_ctx=4: %q", got)
	}
	dtd := tableFile(t, dir, "grid-dtd")
	if len(dtd) != 1 || dtd[0][7] != "55.55 ± 1.43" || dtd[0][8] != "—" {
		t.Errorf("dtd (no zero-shot baseline): %q", dtd)
	}
}

func TestSummaryAndZeroShotTables(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{})
	rows := tableFile(t, dir, "summary")
	// dataset, configuration, seeds, base, new, H, zs base, zs new, zs H, Δ H, prompt; paper order: dtd before eurosat.
	want := [][]string{
		{"[DTD](grid-dtd.md)", "n_ctx=1", "2", "61.00 ± 1.41", "51.00 ± 1.41", "55.55 ± 1.43", "—", "—", "—", "—"},
		{"[EuroSAT](grid-eurosat.md)", "n_ctx=2", "2", "89.00 ± 1.41", "79.00 ± 1.41", "83.70 ± 1.42", "70.00", "60.00", "64.62", "+19.09 ± 1.42"},
		// The paper's average: means of base and new, H of the means; the
		// zero-shot average is missing (dtd has none).
		{"average (2)", "", "", "75.00", "65.00", "69.64", "—", "—", "—", "—"},
	}
	if len(rows) != len(want) {
		t.Fatalf("summary rows %q", rows)
	}
	for i, w := range want {
		if got := rows[i][:len(w)]; !slices.Equal(got, w) {
			t.Errorf("summary row %d = %q\nwant %q", i, got, w)
		}
	}
	zs := tableFile(t, dir, "zeroshot")
	if got := row(t, zs, "EuroSAT"); !slices.Equal(got, []string{"EuroSAT", "`a photo of a {}.`", "70.00", "60.00", "64.62", "—"}) {
		t.Errorf("zero-shot eurosat %q", got)
	}
	if got := row(t, zs, "Caltech101"); got[2] != "—" || got[5] != "90.00" {
		t.Errorf("zero-shot caltech101 %q", got)
	}
}

func TestFactorTables(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{})
	// n_ctx over the complete cells of the grid: 1 (eurosat 76.68, dtd
	// 55.55) and 2 (eurosat 83.70); n_ctx=4 has no complete seed.
	effects := tableFile(t, dir, "factors")
	if len(effects) != 1 || !slices.Equal(effects[0], []string{"n_ctx", "2", "17.59", "17.50", "17.50", "2"}) {
		t.Errorf("main effects %q", effects)
	}
	levels := tableFile(t, dir, "factor-levels")
	want := [][]string{
		{"n_ctx", "1", "2", "71.50 ± 14.85", "61.50 ± 14.85", "66.11 ± 14.94"},
		{"n_ctx", "2", "1", "89.00", "79.00", "83.70"},
	}
	if !slices.EqualFunc(levels, want, slices.Equal) {
		t.Errorf("levels %q\nwant %q", levels, want)
	}
}

func TestAblationPairsBySeedAcrossTheStudy(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{})
	rows := tableFile(t, dir, "ablation")
	// dataset, configuration, variant, seeds, base, new, H, Δ base, Δ new, Δ H
	want := [][]string{
		{"DTD", "n_ctx=3", "full", "1", "60.00", "55.00", "57.39", "—", "—", "—"},
		{"DTD", "n_ctx=3", "nofilter", "1", "58.00", "50.00", "53.70", "-2.00", "-5.00", "-3.69"},
		{"EuroSAT", "n_ctx=2", "full", "2", "89.00 ± 1.41", "79.00 ± 1.41", "83.70 ± 1.42", "—", "—", "—"},
		{"EuroSAT", "n_ctx=2", "noshared", "2", "85.50 ± 0.71", "82.50 ± 0.71", "83.97 ± 0.03", "-3.50 ± 2.12", "+3.50 ± 0.71", "+0.27 ± 1.39"},
	}
	if len(rows) != len(want) {
		t.Fatalf("ablation rows %q", rows)
	}
	for i, w := range want {
		if got := rows[i][:len(w)]; !slices.Equal(got, w) {
			t.Errorf("ablation row %d = %q\nwant %q", i, got, w)
		}
	}
	mean := tableFile(t, dir, "ablation-mean")
	wantMean := [][]string{
		{"full", "2", "74.50 ± 20.51", "67.00 ± 16.97", "70.55 ± 18.60", "—", "—", "—"},
		{"nofilter", "1", "58.00", "50.00", "53.70", "-2.00", "-5.00", "-3.69"},
		{"noshared", "1", "85.50", "82.50", "83.97", "-3.50", "+3.50", "+0.27"},
	}
	if !slices.EqualFunc(mean, wantMean, slices.Equal) {
		t.Errorf("ablation means %q\nwant %q", mean, wantMean)
	}
}

func TestTransferTableInPaperOrder(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{})
	md := readFile(t, filepath.Join(dir, "transfer.md"))
	if !strings.Contains(md, "| source | configuration | test | seeds | source acc | Caltech101 | DTD | EuroSAT | average | missing |") {
		t.Fatalf("transfer columns are not in the paper's order:\n%s", md)
	}
	rows := mdRows(t, md)
	want := [][]string{
		{"ImageNet", "n_ctx=2", "full", "2", "71.00 ± 1.41", "94.00 ± 1.41", "42.00 ± 2.83", "42.00 ± 1.41", "59.33", ""},
		// EuroSAT's seed 2 failed: its number is seed 1's, the average waits.
		{"ImageNet", "n_ctx=2", "projection-free", "2", "71.00 ± 1.41", "92.00 ± 0.00", "39.00 ± 1.41", "37.00", "—",
			"EuroSAT: 1 of 2 seeds (failed after 1 attempt)"},
		{"zero-shot CLIP", "", "", "", "", "90.00", "—", "—", "", ""},
	}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("transfer rows %q\nwant %q", rows, want)
	}
	all := tableFile(t, dir, "all-classes")
	if len(all) != 1 || !slices.Equal(all[0][:5], []string{"ImageNet", "n_ctx=2", "full", "2", "71.00 ± 1.41"}) {
		t.Errorf("all-classes table %q", all)
	}
}

func TestCSVAndLaTeXCarryTheSameNumbers(t *testing.T) {
	dir, _ := writeReport(t, studyFixture(t), Options{})
	f, err := os.Open(filepath.Join(dir, "grid-eurosat.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := recs[0]
	at := func(name string) int {
		i := slices.Index(head, name)
		if i < 0 {
			t.Fatalf("CSV header %q lacks %q", head, name)
		}
		return i
	}
	if r := recs[1]; r[at("H")] != "83.7023" || r[at("H std")] != "1.4192" || r[at("configuration")] != "n_ctx=2" || r[at("seeds")] != "2" {
		t.Errorf("CSV row %q", r)
	}
	if r := recs[3]; r[at("H")] != "" || r[at("H std")] != "" {
		t.Errorf("missing values are empty in CSV: %q", r)
	}
	tex := readFile(t, filepath.Join(dir, "summary.tex"))
	for _, w := range []string{`\begin{tabular}`, `\toprule`, `EuroSAT & n\_ctx=2 & 2 & 89.00\,$\pm$\,1.41`, `average (2)`, `\bottomrule`} {
		if !strings.Contains(tex, w) {
			t.Errorf("summary.tex lacks %q:\n%s", w, tex)
		}
	}
}

func TestFiltersRestrictEveryView(t *testing.T) {
	f := studyFixture(t)
	dir, files := writeReport(t, f, Options{Datasets: []string{"eurosat"}})
	for _, p := range files {
		if strings.Contains(filepath.Base(p), "dtd") {
			t.Errorf("--dataset eurosat wrote %s", p)
		}
	}
	if rows := tableFile(t, dir, "summary"); len(rows) != 2 || rows[0][1] != "n_ctx=2" {
		t.Errorf("summary of eurosat alone %q", rows)
	}
	if rows := tableFile(t, dir, "ablation"); len(rows) != 2 {
		t.Errorf("ablation of eurosat alone %q", rows)
	}
	dir, _ = writeReport(t, f, Options{Experiments: []string{"source", "crossds"}})
	if _, err := os.Stat(filepath.Join(dir, "grid-eurosat.md")); err == nil {
		t.Error("--experiment source,crossds wrote the grid search")
	}
	rows := tableFile(t, dir, "transfer")
	if len(rows) != 2 || rows[0][2] != "full" || rows[1][0] != "zero-shot CLIP" {
		t.Errorf("transfer of crossds alone %q (the baseline stays)", rows)
	}
}

func TestUnknownGrid(t *testing.T) {
	f := newFixture(t)
	if _, err := Write(f.db, "nope", t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown grid: %v", err)
	}
}
