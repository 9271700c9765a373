package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// jsonSplit builds a CoOp split file body from (relpath, label, class) rows.
func jsonSplit(train, val, test [][3]any) map[string][][3]any {
	return map[string][][3]any{"train": train, "val": val, "test": test}
}

func TestOpenJSONLayout(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "caltech-101")
	imgs := filepath.Join(dir, "101_ObjectCategories")
	var train, val, test [][3]any
	classes := []string{"accordion", "airplane", "water_lilly"}
	for c, name := range classes {
		for i := range 4 {
			rel := name + "/image_" + itoa(i) + ".jpg"
			writeJPEG(t, filepath.Join(imgs, filepath.FromSlash(rel)), 20, 16, uint64(10*c+i))
			switch {
			case i < 2:
				train = append(train, [3]any{rel, c, name})
			case i == 2:
				val = append(val, [3]any{rel, c, name})
			default:
				test = append(test, [3]any{rel, c, name})
			}
		}
	}
	writeJSON(t, filepath.Join(dir, "split_zhou_Caltech101.json"), jsonSplit(train, val, test))

	ds, err := Open(root, "caltech101")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 6 || len(ds.Val) != 3 || len(ds.Test) != 3 {
		t.Fatalf("splits %d/%d/%d, want 6/3/3", len(ds.Train), len(ds.Val), len(ds.Test))
	}
	if !slices.Equal(ds.ClassNames, classes) || ds.NumClasses() != 3 {
		t.Fatalf("class names %q", ds.ClassNames)
	}
	if got := ds.PromptNames()[2]; got != "water lilly" {
		t.Errorf("prompt name %q", got)
	}
	for _, it := range slices.Concat(ds.Train, ds.Val, ds.Test) {
		if !filepath.IsAbs(it.Path) || !strings.HasPrefix(it.Path, imgs+string(filepath.Separator)) {
			t.Fatalf("path %s is not under %s", it.Path, imgs)
		}
		if _, err := os.Stat(it.Path); err != nil {
			t.Fatal(err)
		}
		if ds.ClassNames[it.Label] != it.ClassName {
			t.Fatalf("%s: label %d vs class %q", it.Path, it.Label, it.ClassName)
		}
	}
	if ds.Train[5].Label != 2 || ds.Test[0].ClassName != "accordion" {
		t.Errorf("item order not kept: %+v %+v", ds.Train[5], ds.Test[0])
	}
}

func TestOpenRelativeRootGivesAbsolutePaths(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dtd", "split_zhou_DescribableTextures.json"),
		[]byte(`{"train":[["banded/a.jpg",0,"banded"]],"val":[],"test":[["banded/b.jpg",0,"banded"]]}`))
	if err := os.MkdirAll(filepath.Join(root, "dtd", "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	ds, err := Open(".", "dtd")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "dtd", "images", "banded", "a.jpg")
	if ds.Train[0].Path != want {
		t.Fatalf("path %s, want %s", ds.Train[0].Path, want)
	}
}

func TestOpenStanfordCarsPathsRelativeToDatasetDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "stanford_cars")
	writeJSON(t, filepath.Join(dir, "split_zhou_StanfordCars.json"), jsonSplit(
		[][3]any{{"cars_train/00001.jpg", 0, "2012 Audi S4 Sedan"}, {"cars_train/00002.jpg", 1, "2007 BMW X5 SUV"}},
		[][3]any{{"cars_train/00003.jpg", 1, "2007 BMW X5 SUV"}},
		[][3]any{{"cars_test/00001.jpg", 0, "2012 Audi S4 Sedan"}},
	))
	ds, err := Open(root, "stanford_cars")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "cars_train", "00001.jpg"); ds.Train[0].Path != want {
		t.Errorf("train path %s, want %s", ds.Train[0].Path, want)
	}
	if want := filepath.Join(dir, "cars_test", "00001.jpg"); ds.Test[0].Path != want {
		t.Errorf("test path %s, want %s", ds.Test[0].Path, want)
	}
	if !slices.Equal(ds.ClassNames, []string{"2012 Audi S4 Sedan", "2007 BMW X5 SUV"}) {
		t.Errorf("class names %q", ds.ClassNames)
	}
}

func TestOpenEveryJSONDatasetFolder(t *testing.T) {
	// The folder/image dir/split file table of CoOp's DATASETS.md.
	cases := map[string][3]string{
		"caltech101":     {"caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"},
		"oxford_pets":    {"oxford_pets", "images", "split_zhou_OxfordPets.json"},
		"stanford_cars":  {"stanford_cars", "", "split_zhou_StanfordCars.json"},
		"oxford_flowers": {"oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json"},
		"food101":        {"food-101", "images", "split_zhou_Food101.json"},
		"sun397":         {"sun397", "SUN397", "split_zhou_SUN397.json"},
		"dtd":            {"dtd", "images", "split_zhou_DescribableTextures.json"},
		"eurosat":        {"eurosat", "2750", "split_zhou_EuroSAT.json"},
		"ucf101":         {"ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"},
		"demo":           {"demo", "images", "split_zhou_Demo.json"},
		"demo_b":         {"demo_b", "images", "split_zhou_DemoB.json"},
	}
	for name, c := range cases {
		root := t.TempDir()
		imgDir := filepath.Join(root, c[0], c[1])
		if err := os.MkdirAll(imgDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeJSON(t, filepath.Join(root, c[0], c[2]), jsonSplit(
			[][3]any{{"x/1.jpg", 0, "x"}, {"y/1.jpg", 1, "y"}}, nil, [][3]any{{"x/2.jpg", 0, "x"}}))
		ds, err := Open(root, name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if ds.Train[1].Path != filepath.Join(imgDir, "y", "1.jpg") || ds.NumClasses() != 2 {
			t.Errorf("%s: path %s, %d classes", name, ds.Train[1].Path, ds.NumClasses())
		}
	}
	want := []string{"fgvc_aircraft", "imagenet", "imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"}
	for name := range cases {
		want = append(want, name)
	}
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
}

func TestOpenFGVCAircraft(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "fgvc_aircraft")
	writeFile(t, filepath.Join(dir, "variants.txt"), []byte("707-320\nA300B4\nF-16A/B\n"))
	writeFile(t, filepath.Join(dir, "images_variant_train.txt"), []byte("1025794 707-320\n1340192 F-16A/B\n0056978 A300B4\n"))
	writeFile(t, filepath.Join(dir, "images_variant_val.txt"), []byte("1025795 A300B4\n"))
	writeFile(t, filepath.Join(dir, "images_variant_test.txt"), []byte("1025796 F-16A/B\n1025797 707-320\n"))
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(root, "fgvc_aircraft")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.ClassNames, []string{"707-320", "A300B4", "F-16A/B"}) {
		t.Fatalf("class names %q", ds.ClassNames)
	}
	want := Item{Path: filepath.Join(dir, "images", "1340192.jpg"), Label: 2, ClassName: "F-16A/B"}
	if ds.Train[1] != want {
		t.Errorf("train[1] = %+v, want %+v", ds.Train[1], want)
	}
	if len(ds.Train) != 3 || len(ds.Val) != 1 || len(ds.Test) != 2 || ds.Val[0].Label != 1 {
		t.Errorf("splits %d/%d/%d, val %+v", len(ds.Train), len(ds.Val), len(ds.Test), ds.Val)
	}

	// A variant with a space in its name, and one that is not listed.
	writeFile(t, filepath.Join(dir, "variants.txt"), []byte("707-320\nA300B4\nF-16A/B\nCessna 172\n"))
	writeFile(t, filepath.Join(dir, "images_variant_val.txt"), []byte("1 Cessna 172\n"))
	ds, err = Open(root, "fgvc_aircraft")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Val[0].ClassName != "Cessna 172" || ds.Val[0].Label != 3 {
		t.Errorf("val[0] = %+v", ds.Val[0])
	}
	writeFile(t, filepath.Join(dir, "images_variant_test.txt"), []byte("1025796 F-16A/B\n1025797 747-400\n"))
	_, err = Open(root, "fgvc_aircraft")
	if err == nil || !strings.Contains(err.Error(), "images_variant_test.txt:2") || !strings.Contains(err.Error(), "747-400") {
		t.Errorf("unknown variant: error %v should name images_variant_test.txt:2 and the variant", err)
	}
}

func TestOpenImageNet(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "imagenet")
	writeFile(t, filepath.Join(dir, "classnames.txt"),
		[]byte("n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\n"))
	// Created out of order: labels follow the sorted folder names, files are
	// sorted within a folder.
	for _, f := range []string{"train/n01484850/b.JPEG", "train/n01484850/a.JPEG", "train/n01440764/z.JPEG",
		"train/n01443537/m.JPEG", "train/n01443537/.hidden", "val/n01440764/v1.JPEG", "val/n01443537/v2.JPEG",
		"val/n01484850/v3.JPEG"} {
		writeFile(t, filepath.Join(dir, "images", filepath.FromSlash(f)), []byte("x"))
	}
	ds, err := Open(root, "imagenet")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.ClassNames, []string{"tench", "goldfish", "great white shark"}) {
		t.Fatalf("class names %q", ds.ClassNames)
	}
	var got []string
	for _, it := range ds.Train {
		rel, _ := filepath.Rel(filepath.Join(dir, "images"), it.Path)
		got = append(got, filepath.ToSlash(rel)+"="+itoa(it.Label))
	}
	want := []string{"train/n01440764/z.JPEG=0", "train/n01443537/m.JPEG=1", "train/n01484850/a.JPEG=2", "train/n01484850/b.JPEG=2"}
	if !slices.Equal(got, want) {
		t.Errorf("train items %q, want %q", got, want)
	}
	if len(ds.Test) != 3 || !slices.Equal(ds.Val, ds.Test) || !ds.ValIsTest || ds.Test[2].ClassName != "great white shark" {
		t.Errorf("test %+v val %+v ValIsTest %v", ds.Test, ds.Val, ds.ValIsTest)
	}

	writeFile(t, filepath.Join(dir, "images", "train", "n09999999", "x.JPEG"), []byte("x"))
	_, err = Open(root, "imagenet")
	if err == nil || !strings.Contains(err.Error(), "n09999999") || !strings.Contains(err.Error(), "classnames.txt") {
		t.Errorf("unnamed wnid: error %v should name the folder and classnames.txt", err)
	}
}

func TestOpenMissingFilesAreNamed(t *testing.T) {
	root := t.TempDir()
	mustFail := func(name string, wants ...string) {
		t.Helper()
		_, err := Open(root, name)
		if err == nil {
			t.Fatalf("Open(%s) succeeded", name)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%s): error %q does not name %q", name, err, w)
			}
		}
	}
	mustFail("oxford_pets", filepath.Join(root, "oxford_pets"))
	if err := os.MkdirAll(filepath.Join(root, "oxford_pets"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail("oxford_pets", filepath.Join(root, "oxford_pets", "images"))
	if err := os.MkdirAll(filepath.Join(root, "oxford_pets", "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail("oxford_pets", filepath.Join(root, "oxford_pets", "split_zhou_OxfordPets.json"))

	if err := os.MkdirAll(filepath.Join(root, "fgvc_aircraft", "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail("fgvc_aircraft", filepath.Join(root, "fgvc_aircraft", "variants.txt"))
	writeFile(t, filepath.Join(root, "fgvc_aircraft", "variants.txt"), []byte("A\n"))
	mustFail("fgvc_aircraft", "images_variant_train.txt")

	if err := os.MkdirAll(filepath.Join(root, "imagenet", "images", "train"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustFail("imagenet", filepath.Join(root, "imagenet", "classnames.txt"))
	writeFile(t, filepath.Join(root, "imagenet", "classnames.txt"), []byte("n1 a\n"))
	mustFail("imagenet", filepath.Join(root, "imagenet", "images", "val"))

	mustFail("no_such_set", "unknown dataset", "oxford_pets")
	_, err := Open(filepath.Join(root, "nowhere"), "dtd")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "nowhere")) {
		t.Errorf("missing root: %v", err)
	}
}

func TestOpenMalformedSplitFiles(t *testing.T) {
	cases := []struct {
		body  string
		wants []string
	}{
		{`{"train":[["a.jpg",0,"a"],["b.jpg","one","b"]],"test":[]}`, []string{"train[1]", "label"}},
		{`{"train":[["a.jpg",0]],"test":[]}`, []string{"train[0]"}},
		{`{"train":[["a.jpg",1.5,"a"]],"test":[]}`, []string{"train[0]", "1.5"}},
		{`{"train":[["a.jpg",0,"a"]],"test":[["b.jpg",0,"b"]]}`, []string{"label 0", `"a"`, `"b"`}},
		{`{"train":[["a.jpg",1,"a"]],"test":[]}`, []string{"label 0 has no item"}},
		{`{"train":[["a.jpg",0,"a"]]}`, []string{`"test"`}},
		{`{"train":[`, []string{"unexpected end"}},
	}
	for _, c := range cases {
		root := t.TempDir()
		split := filepath.Join(root, "eurosat", "split_zhou_EuroSAT.json")
		writeFile(t, split, []byte(c.body))
		if err := os.MkdirAll(filepath.Join(root, "eurosat", "2750"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Open(root, "eurosat")
		if err == nil {
			t.Errorf("%s: no error", c.body)
			continue
		}
		for _, w := range append(c.wants, split) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", c.body, err, w)
			}
		}
	}
}

func TestPromptName(t *testing.T) {
	it := Item{ClassName: "american_pit_bull_terrier"}
	if it.PromptName() != "american pit bull terrier" || PromptName("Forest") != "Forest" {
		t.Errorf("PromptName: %q", it.PromptName())
	}
}
