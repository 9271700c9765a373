package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var demoCorpus = []string{
	"a photo of a", "a photo of a cat.", "a satellite photo of",
	"Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road",
	"Industrial Buildings", "Pasture Land", "Permanent Crop Land", "Residential Buildings",
	"River", "Sea or Lake", "golden_retriever", "it's a dog's life", "crème brûlée 42",
}

func TestTrainBPEFirstMerges(t *testing.T) {
	// "ab" three times and "ac" once: a+b</w> is the most frequent pair,
	// then a+c</w>; after that every word is one token and training stops.
	got := TrainBPE([]string{"ab ab AB", "ac"}, 10)
	want := []Merge{{"a", "b</w>"}, {"a", "c</w>"}}
	if !slices.Equal(got, want) {
		t.Errorf("merges = %v, want %v", got, want)
	}
	// Equal counts go to the lexicographically smaller pair.
	if got := TrainBPE([]string{"ac", "ab"}, 1); !slices.Equal(got, []Merge{{"a", "b</w>"}}) {
		t.Errorf("tie: %v", got)
	}
	// Words are split as Encode splits them: no merge crosses "it" and "'s".
	for _, m := range TrainBPE([]string{"it's it's"}, 100) {
		if strings.Contains(m.Left+m.Right, "t'") {
			t.Errorf("merge %v crosses a word boundary", m)
		}
	}
	if got := TrainBPE([]string{"abc"}, 0); len(got) != 0 {
		t.Errorf("0 merges asked, got %v", got)
	}
}

func TestDemoVocabularyRoundTrip(t *testing.T) {
	merges := TrainBPE(demoCorpus, 500)
	if again := TrainBPE(demoCorpus, 500); !slices.Equal(merges, again) {
		t.Fatal("TrainBPE is not deterministic")
	}
	if len(merges) == 0 || len(merges) > 500 {
		t.Fatalf("%d merges", len(merges))
	}
	results := map[string]bool{}
	for _, m := range merges {
		if results[m.Left+m.Right] {
			t.Errorf("merge result %q learned twice", m.Left+m.Right)
		}
		results[m.Left+m.Right] = true
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "demo_bpe.txt.gz")
	if err := WriteBPE(path, merges); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("WriteBPE left %d files, want only the vocabulary", len(entries))
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 512+len(merges)+2 || tok.SOT() != 512+len(merges) || tok.EOT() != tok.SOT()+1 {
		t.Fatalf("size %d SOT %d EOT %d for %d merges", tok.VocabSize(), tok.SOT(), tok.EOT(), len(merges))
	}
	for _, text := range demoCorpus {
		words := splitWords(cleanText(text))
		ids := tok.Encode(text)
		// With enough merges every corpus word is a single token.
		if len(ids) != len(words) {
			t.Errorf("Encode(%q) = %v, want one id per word of %q", text, ids, words)
		}
		decoded := tok.Decode(ids)
		if want := strings.Join(words, " ") + " "; decoded != want {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", text, decoded, want)
		}
		if again := tok.Encode(decoded); !slices.Equal(again, ids) {
			t.Errorf("Encode(%q) = %v, want %v", decoded, again, ids)
		}
	}
	// Unseen words still encode, from the byte tokens up.
	ids := tok.Encode("zebra")
	if got := tok.Decode(ids); got != "zebra " {
		t.Errorf("unseen word decodes to %q", got)
	}
}

func TestWriteBPERejectsBadMerges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.txt.gz")
	for _, m := range []Merge{{"a b", "c"}, {"", "c"}, {"a", "\n"}} {
		if err := WriteBPE(path, []Merge{{"a", "b"}, m}); err == nil || !strings.Contains(err.Error(), "merge 1") {
			t.Errorf("%q: want an error naming merge 1, got %v", m, err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("a rejected vocabulary must not be written")
	}
	if err := WriteBPE(filepath.Join(t.TempDir(), "missing", "x.gz"), nil); err == nil {
		t.Error("writing into a missing directory should fail")
	}
}
