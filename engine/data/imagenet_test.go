package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fomo-grid/grid/internal/study"
)

// writeVariantImages writes a real tiny JPEG at each path (relative to dir),
// the i-th one 8+i pixels wide so a test can tell which file an item names.
func writeVariantImages(t *testing.T, dir string, rels []string) map[string]int {
	t.Helper()
	widthOf := map[string]int{}
	for i, rel := range rels {
		writeJPEG(t, filepath.Join(dir, filepath.FromSlash(rel)), 8+i, 6, uint64(i))
		widthOf[rel] = 8 + i
	}
	return widthOf
}

// describeItems renders items as "<path relative to dir>=<label>:<name>" and
// checks that each decodes to the image written there.
func describeItems(t *testing.T, dir string, items []Item, widthOf map[string]int) []string {
	t.Helper()
	var out []string
	for _, it := range items {
		rel, err := filepath.Rel(dir, it.Path)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		img, err := DecodeFile(it.Path)
		if err != nil {
			t.Errorf("item %s: %v", rel, err)
		} else if img.Width != widthOf[rel] {
			t.Errorf("item %s decodes to a %d-pixel-wide image, want %d", rel, img.Width, widthOf[rel])
		}
		out = append(out, rel+"="+itoa(it.Label)+":"+it.ClassName)
	}
	return out
}

func checkTestOnly(t *testing.T, ds *Dataset) {
	t.Helper()
	if !ds.TestOnly || ds.ValIsTest || len(ds.Train) != 0 || len(ds.Val) != 0 {
		t.Errorf("%s: TestOnly %v ValIsTest %v, %d train and %d val items; want a test-only dataset",
			ds.Name, ds.TestOnly, ds.ValIsTest, len(ds.Train), len(ds.Val))
	}
}

func wantErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

func TestOpenImageNetV2(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "imagenetv2")
	imageDir := filepath.Join(dir, "imagenetv2-matched-frequency-format-val")
	// Not in wnid order: folder L takes the name on the L-th line.
	writeFile(t, filepath.Join(dir, "classnames.txt"),
		[]byte("n01484850 great white shark\n\nn01440764 tench\nn01443537 goldfish\n"))
	widthOf := writeVariantImages(t, imageDir, []string{"2/f2.jpeg", "0/b.jpeg", "0/a.jpeg", "1/z.jpeg"})
	writeFile(t, filepath.Join(imageDir, "1", ".DS_Store"), []byte("x"))

	ds, err := Open(root, "imagenetv2")
	if err != nil {
		t.Fatal(err)
	}
	checkTestOnly(t, ds)
	if !slices.Equal(ds.ClassNames, []string{"great white shark", "tench", "goldfish"}) {
		t.Errorf("class names %q", ds.ClassNames)
	}
	got := describeItems(t, imageDir, ds.Test, widthOf)
	want := []string{"0/a.jpeg=0:great white shark", "0/b.jpeg=0:great white shark", "1/z.jpeg=1:tench", "2/f2.jpeg=2:goldfish"}
	if !slices.Equal(got, want) {
		t.Errorf("test items %q, want %q", got, want)
	}

	// A folder the class list has no line for: classnames.txt is not the
	// list the folders were numbered by.
	writeVariantImages(t, imageDir, []string{"3/x.jpeg"})
	_, err = Open(root, "imagenetv2")
	wantErr(t, err, filepath.Join(imageDir, "3"), filepath.Join(dir, "classnames.txt"), "3 classes")
	if err := os.RemoveAll(filepath.Join(imageDir, "3")); err != nil {
		t.Fatal(err)
	}
	writeVariantImages(t, imageDir, []string{"01/x.jpeg"})
	_, err = Open(root, "imagenetv2")
	wantErr(t, err, filepath.Join(imageDir, "01"))
	if err := os.RemoveAll(filepath.Join(imageDir, "01")); err != nil {
		t.Fatal(err)
	}

	// Every label needs its folder, even an empty one.
	if err := os.RemoveAll(filepath.Join(imageDir, "1")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(root, "imagenetv2")
	wantErr(t, err, filepath.Join(imageDir, "1"), "n01440764")
	if err := os.MkdirAll(filepath.Join(imageDir, "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	ds, err = Open(root, "imagenetv2")
	if err != nil || len(ds.Test) != 3 || ds.NumClasses() != 3 {
		t.Fatalf("empty class folder: %v", err)
	}

	for _, l := range []string{"0", "2"} {
		if err := os.RemoveAll(filepath.Join(imageDir, l)); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(imageDir, l), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, err = Open(root, "imagenetv2")
	wantErr(t, err, imageDir, "no images")

	if err := os.Remove(filepath.Join(dir, "classnames.txt")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(root, "imagenetv2")
	wantErr(t, err, "missing class list", filepath.Join(dir, "classnames.txt"))
}

func TestOpenImageNetWnidVariants(t *testing.T) {
	cases := []struct{ name, folder, imageDir string }{
		{"imagenet_sketch", "imagenet-sketch", "images"},
		{"imagenet_a", "imagenet-adversarial", "imagenet-a"},
		{"imagenet_r", "imagenet-rendition", "imagenet-r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			_, err := Open(root, c.name)
			wantErr(t, err, "missing dataset folder", filepath.Join(root, c.folder))

			dir := filepath.Join(root, c.folder)
			imageDir := filepath.Join(dir, c.imageDir)
			// classnames.txt is not in wnid order and lists a class with no
			// folder: labels follow the sorted folders, not the file.
			writeFile(t, filepath.Join(dir, "classnames.txt"),
				[]byte("n01443537 goldfish\nn01440764 tench\nn01491361 tiger shark\nn01484850 great white shark\n"))
			widthOf := writeVariantImages(t, imageDir, []string{
				"n01484850/b.JPEG", "n01484850/a.JPEG", "n01440764/z.JPEG", "n01443537/m.JPEG"})
			writeFile(t, filepath.Join(imageDir, "README.txt"), []byte("ImageNet-A: 200 classes\n"))
			writeFile(t, filepath.Join(imageDir, "n01443537", ".hidden.JPEG"), []byte("x"))
			if err := os.MkdirAll(filepath.Join(imageDir, ".Trash"), 0o755); err != nil {
				t.Fatal(err)
			}

			ds, err := Open(root, c.name)
			if err != nil {
				t.Fatal(err)
			}
			checkTestOnly(t, ds)
			if ds.Dir != dir {
				t.Errorf("Dir %s, want %s", ds.Dir, dir)
			}
			if !slices.Equal(ds.ClassNames, []string{"tench", "goldfish", "great white shark"}) {
				t.Errorf("class names %q", ds.ClassNames)
			}
			got := describeItems(t, imageDir, ds.Test, widthOf)
			want := []string{"n01440764/z.JPEG=0:tench", "n01443537/m.JPEG=1:goldfish",
				"n01484850/a.JPEG=2:great white shark", "n01484850/b.JPEG=2:great white shark"}
			if !slices.Equal(got, want) {
				t.Errorf("test items %q, want %q", got, want)
			}

			writeVariantImages(t, imageDir, []string{"n09999999/x.JPEG"})
			_, err = Open(root, c.name)
			wantErr(t, err, filepath.Join(imageDir, "n09999999"), filepath.Join(dir, "classnames.txt"))
			if err := os.RemoveAll(filepath.Join(imageDir, "n09999999")); err != nil {
				t.Fatal(err)
			}

			if err := os.Remove(filepath.Join(dir, "classnames.txt")); err != nil {
				t.Fatal(err)
			}
			_, err = Open(root, c.name)
			wantErr(t, err, "missing class list", filepath.Join(dir, "classnames.txt"))
			writeFile(t, filepath.Join(dir, "classnames.txt"), []byte("n01440764 tench\nn01443537 goldfish\nn01484850 great white shark\n"))

			// Class folders without images: an empty dataset is an error.
			for _, wnid := range []string{"n01440764", "n01443537", "n01484850"} {
				if err := os.RemoveAll(filepath.Join(imageDir, wnid)); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(imageDir, wnid), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			_, err = Open(root, c.name)
			wantErr(t, err, imageDir, "no images", "3 class folders")

			// Only README.txt left: no classes.
			for _, wnid := range []string{"n01440764", "n01443537", "n01484850"} {
				if err := os.Remove(filepath.Join(imageDir, wnid)); err != nil {
					t.Fatal(err)
				}
			}
			_, err = Open(root, c.name)
			wantErr(t, err, imageDir, "no class folders")

			if err := os.RemoveAll(imageDir); err != nil {
				t.Fatal(err)
			}
			_, err = Open(root, c.name)
			wantErr(t, err, "missing image folder", imageDir)
		})
	}
}

func TestClassListErrors(t *testing.T) {
	cases := []struct{ body, want string }{
		{"n01440764 tench\nn01443537 goldfish\nn01440764 tench\n", "classnames.txt:3: wnid n01440764 is already on line 1"},
		{"n01440764 tench\nn01443537\n", "classnames.txt:2"},
		{"\n\n", "is empty"},
	}
	for _, c := range cases {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "imagenet-rendition", "classnames.txt"), []byte(c.body))
		writeVariantImages(t, filepath.Join(root, "imagenet-rendition", "imagenet-r"), []string{"n01440764/a.jpg"})
		_, err := Open(root, "imagenet_r")
		wantErr(t, err, c.want)
	}
}

// A variant is a transfer target only: sampling shots or splitting classes
// on it fails, naming the dataset as test-only, and testing on every class
// works.
func TestTestOnlyDatasetRefusesTraining(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "imagenet-adversarial")
	writeFile(t, filepath.Join(dir, "classnames.txt"), []byte("n01440764 tench\nn01443537 goldfish\n"))
	writeVariantImages(t, filepath.Join(dir, "imagenet-a"), []string{"n01440764/a.jpg", "n01443537/b.jpg"})
	ds, err := Open(root, "imagenet_a")
	if err != nil {
		t.Fatal(err)
	}

	cacheDir := t.TempDir()
	_, err = FewShotCached(ds, 16, 1, cacheDir)
	wantErr(t, err, "imagenet_a", "test-only")
	if _, err := os.Stat(FewShotFile(ds, 16, 1, cacheDir)); err == nil {
		t.Errorf("a refused few-shot draw wrote %s", FewShotFile(ds, 16, 1, cacheDir))
	}
	if got, err := FewShotCached(ds, 0, 1, cacheDir); err != nil || got != ds {
		t.Errorf("shots 0: %v", err)
	}

	for _, which := range []study.Classes{study.ClassesBase, study.ClassesNew} {
		_, err := SubsampleClasses(ds, which)
		wantErr(t, err, "imagenet_a", "test-only", `"all"`)
	}
	all, err := SubsampleClasses(ds, study.ClassesAll)
	if err != nil || len(all.Test) != 2 || all.NumClasses() != 2 {
		t.Errorf("classes all: %v", err)
	}
}
