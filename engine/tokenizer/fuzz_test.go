package tokenizer

import (
	"os"
	"testing"
	"unicode/utf8"
)

// smallVocab is the committed demo-sized vocabulary of the golden tests.
const smallVocab = "../reference/fixtures/model/bpe_vocab.txt.gz"

// FuzzEncode tokenizes arbitrary text: no panic, every id inside the
// vocabulary, and a decoding that is valid UTF-8 and encodes again without
// error.
func FuzzEncode(f *testing.F) {
	tok, err := Load(smallVocab)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"a photo of a dog.", "Ünïcödé  &amp; <|startoftext|>", "\u0345\x00\xff", "&#x110000;", "ΣΑΣ ς", "don't   stop", "🙂🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := tok.Encode(text)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d outside the vocabulary of %d", id, tok.VocabSize())
			}
		}
		back := tok.Decode(ids)
		if !utf8.ValidString(back) {
			t.Fatalf("decoding %v is not UTF-8: %q", ids, back)
		}
		for _, id := range tok.Encode(back) {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("re-encoding: id %d outside the vocabulary", id)
			}
		}
		if _, err := tok.Tokenize(text, len(ids)+2); err != nil {
			t.Fatalf("Tokenize with room for %d ids: %v", len(ids), err)
		}
	})
}

// FuzzLoad reads arbitrary merges files: no panic, and a vocabulary it
// accepts encodes text into ids inside it.
func FuzzLoad(f *testing.F) {
	if raw, err := os.ReadFile(smallVocab); err == nil {
		f.Add(raw)
	}
	f.Add([]byte("#version: 0.2\nh e\nhe l\nhel lo</w>\n"))
	f.Add([]byte("#version: 0.2\na\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tok, err := parseMerges("fuzz.txt", raw)
		if err != nil {
			return
		}
		if tok.VocabSize() < 514 {
			t.Fatalf("vocabulary of %d tokens lacks the 512 byte symbols and SOT/EOT", tok.VocabSize())
		}
		for _, id := range tok.Encode("hello world, a photo of a dog") {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d outside the vocabulary of %d", id, tok.VocabSize())
			}
		}
	})
}
