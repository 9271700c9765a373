package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fomo-grid/grid/internal/testvocab"
)

// realVocabPath is OpenAI's BPE file, wherever the user or CI keeps it
// (internal/testvocab); the test is skipped, saying how to get it, if it is
// nowhere.
func realVocabPath(t *testing.T) string {
	t.Helper()
	return testvocab.Path(t)
}

var (
	realOnce sync.Once
	realTok  *Tokenizer
	realErr  error
)

func realTokenizer(t *testing.T) *Tokenizer {
	t.Helper()
	path := realVocabPath(t)
	realOnce.Do(func() { realTok, realErr = Load(path) })
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realTok
}

func TestRealVocabularyLayout(t *testing.T) {
	tok := realTokenizer(t)
	if tok.VocabSize() != 49408 || tok.SOT() != 49406 || tok.EOT() != 49407 {
		t.Fatalf("size %d SOT %d EOT %d, want 49408 49406 49407", tok.VocabSize(), tok.SOT(), tok.EOT())
	}
	// Ids 0..255 follow bytes_to_unicode() insertion order: the 188
	// printable bytes from '!' up, then the other 68 bytes (0x00..0x20,
	// 0x7F..0xA0, 0xAD) as U+0100.. ; 256..511 repeat them with "</w>";
	// then one id per merge line ("i n" is the file's first merge).
	want := map[int]string{
		0: "!", 64: "a", 187: "ÿ", 188: "Ā", 220: "Ġ", 255: "Ń",
		256: "!</w>", 320: "a</w>", 476: "Ġ</w>",
		512: "in", 513: "th", 1125: "photo</w>", 49406: StartOfText, 49407: EndOfText,
	}
	for id, s := range want {
		if got := tok.Token(id); got != s {
			t.Errorf("Token(%d) = %q, want %q", id, got, s)
		}
	}
	if tok.Token(-1) != "" || tok.Token(49408) != "" {
		t.Error("Token outside the vocabulary should be empty")
	}
}

// The expected ids come from running openai/CLIP's simple_tokenizer.py (with
// ftfy 6.3.1) on the same file; "a photo of a cat" and the plain English
// rows also appear in many public CLIP tokenizer tests.
func TestEncodeMatchesCLIP(t *testing.T) {
	tok := realTokenizer(t)
	cases := []struct {
		text string
		ids  []int
	}{
		{"a photo of a", []int{320, 1125, 539, 320}},
		{"a photo of a cat", []int{320, 1125, 539, 320, 2368}},
		{"", []int{}},
		// contractions and punctuation
		{"it's a cat's toy, running   fast", []int{585, 568, 320, 2368, 568, 5988, 267, 2761, 1953}},
		{"hello, world! how are you?", []int{3306, 267, 1002, 256, 829, 631, 592, 286}},
		{"!!!", []int{995}},
		{"email: user@example.com", []int{4462, 281, 7031, 287, 6228, 269, 2464}},
		{"Yorkshire_terrier", []int{8633, 318, 14455}},
		// digits are split one by one
		{"the year 2024 was interesting", []int{518, 935, 273, 271, 273, 275, 739, 3628}},
		{"3.14 is pi", []int{274, 269, 272, 275, 533, 5357}},
		{"MacBook Pro 16-inch", []int{20617, 2630, 272, 277, 268, 6523}},
		// case and whitespace
		{"  HELLO \t\n  World  ", []int{3306, 1002}},
		// accents, composed and decomposed (ftfy's NFC)
		{"café", []int{15304}},
		{"cafe\u0301", []int{15304}},
		{"naïve résumé", []int{1097, 35689, 563, 29106, 7054, 4166}},
		{"crème brûlée", []int{1075, 12138, 614, 711, 127, 119, 75, 13489}},
		{"İstanbul", []int{328, 16384, 11231}}, // str.lower(): "i̇stanbul"
		{"ΟΔΥΣΣΕΥΣ", []int{138, 123, 138, 112, 139, 227, 139, 225, 139, 225, 138, 113, 139, 227, 139, 480}}, // final sigma
		// emoji and other scripts
		{"😀", []int{7334}},
		{"I ❤️ NY", []int{328, 1752, 1350}},
		{"dog 🐶🐶!", []int{1929, 14466, 14466, 256}},
		{"東京タワー", []int{48338, 21078, 105, 34941, 2429, 107, 30391}},
		// ftfy: width, ligatures, curly quotes, C1 controls, terminal escapes
		{"ｈｅｌｌｏ\u3000ｗｏｒｌｄ", []int{3306, 1002}},
		{"ﬁne ﬂour", []int{3797, 18592}},
		{"“quoted” it’s", []int{257, 27706, 257, 585, 568}},
		{"\u0085ok", []int{959, 2481}},
		{"\x1b[31mred\x1b[0m", []int{736}},
		// HTML entities: ftfy unescapes until nothing changes unless a
		// literal "<" is present, then html.unescape runs twice
		{"Tom &amp; Jerry", []int{2435, 261, 9164}},
		{"&amp;amp;amp;lt;b&gt;", []int{283, 321, 285}},
		{"x < y &amp; z", []int{343, 283, 344, 261, 345}},
		{"&eacute;t&eacute;", []int{3459, 39694}},
		{"P&EACUTE;REZ", []int{43167, 15192}},
		{"&notit; &amp", []int{126, 361, 585, 282, 261}},
		{"&#65;&#x42;", []int{3937}},
		{"&nGt;", []int{22684, 104, 2805, 496}},
		// U+0345 matches no alternative of Python's pattern
		{"a\u0345b", []int{320, 321}},
		{"<|startoftext|>hi<|endoftext|>", []int{49406, 1883, 49407}},
	}
	for _, c := range cases {
		if got := tok.Encode(c.text); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
	}
}

func TestCleanText(t *testing.T) {
	// Expected values checked against simple_tokenizer.py with ftfy 6.3.1.
	cases := map[string]string{
		"  A\u00a0B\u2003\u3000c\r\nd  ":  "a b c d",
		"&amp;lt;":                        "<",        // ftfy then html.unescape
		"a<b &amp;amp;lt;":                "a<b &lt;", // ftfy skips; two html.unescape passes
		"a<b\n&amp;amp;amp;lt;":           "a<b &amp;lt;",
		"&lt;x\n&amp;amp;amp;lt;":         "<x <", // ftfy looks for "<" before unescaping
		"&ampx &AMP; &#59; &#0; &#128;":   "&x & ; \ufffd €",
		"&#1;&#xFFFF;&#x110000;&#xD800;":  "\ufffd\ufffd",
		"&#13;x":                          "x",
		"&SZLIG; &LTIMES;":                "ss <imes;",
		"Ǆ ﬃ ｶﾞ":                          "dž ffi ガ",
		"e\u0301\u0323":                   "\u1eb9\u0301",
		"ΑΣ. Σ ΑΣΑ":                       "ας. σ ασα",
		"ctl\x00\x01\x0b\x1c\x7fx\ufeffy": "ctlxy",
		"bad\xffbyte":                     "bad\ufffdbyte",
	}
	for in, want := range cases {
		if got := cleanText(in); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTML5EntityLookup(t *testing.T) {
	known := map[string]string{
		"amp;": "&", "amp": "&", "AMP;": "&", "semi;": ";", "fjlig;": "fj",
		"NotEqualTilde;": "\u2242\u0338", "nLt;": "\u226A\u20D2", "eacute;": "é", "Eacute": "É",
		"HilbertSpace;": "ℋ",
	}
	for key, want := range known {
		if got, ok := html5Entity(key); !ok || got != want {
			t.Errorf("html5Entity(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	for _, key := range []string{"ampx", "ampx;", "notit;", "EACUTE;", "foo;", "eacute1", "lt ;", "é;", ""} {
		if got, ok := html5Entity(key); ok {
			t.Errorf("html5Entity(%q) = %q, want no entity", key, got)
		}
	}
}

// The three rows of the table in §2.6 of the reference semantics.
func TestRoundTripTable(t *testing.T) {
	tok := realTokenizer(t)
	photo, photograph := tok.encoder["photo"], tok.encoder["photograph</w>"]
	a, b := tok.encoder["a"], tok.encoder["b</w>"]
	rows := []struct {
		ids     []int
		decoded string
		again   []int
	}{
		{[]int{photo, photograph}, "photophotograph ", []int{photo, photograph}},
		{[]int{a, b}, "ab ", []int{3937}},
		{[]int{photo}, "photo", []int{1125}},
	}
	for _, r := range rows {
		s := tok.Decode(r.ids)
		if s != r.decoded {
			t.Errorf("Decode(%v) = %q, want %q", r.ids, s, r.decoded)
		}
		if got := tok.Encode(s); !slices.Equal(got, r.again) {
			t.Errorf("Encode(%q) = %v, want %v", s, got, r.again)
		}
	}
}

func TestDecode(t *testing.T) {
	tok := realTokenizer(t)
	// Python's errors="replace" gives one U+FFFD for the truncated
	// three-byte sequence E2 82.
	if got := tok.Decode([]int{158, 224, 320}); got != "\ufffda " {
		t.Errorf("Decode of E2 82 a</w> = %q, want %q", got, "\ufffda ")
	}
	if got := tok.Decode([]int{320, 99999, -1}); got != "a \ufffd\ufffd" {
		t.Errorf("Decode with unknown ids = %q", got)
	}
	if got := tok.Decode(nil); got != "" {
		t.Errorf("Decode(nil) = %q", got)
	}
	// Decode then Encode gives back the same ids for ordinary text, with
	// "</w>" turned into spaces between words and punctuation.
	for text, decoded := range map[string]string{
		"a photo of a cat.":  "a photo of a cat . ",
		"it's a dog's life":  "it 's a dog 's life ",
		"crème brûlée":       "crème brûlée ",
		"東京タワー":              "東京タワー ",
		"I ❤️ NY":            "i ❤️ ny ",
		"3.14":               "3 . 1 4 ",
		"Yorkshire_terrier":  "yorkshire _ terrier ",
		"hello,   world!\n ": "hello , world ! ",
	} {
		ids := tok.Encode(text)
		got := tok.Decode(ids)
		if got != decoded {
			t.Errorf("Decode(Encode(%q)) = %q, want %q", text, got, decoded)
		}
		if again := tok.Encode(got); !slices.Equal(again, ids) {
			t.Errorf("Encode(%q) = %v, want %v", got, again, ids)
		}
	}
}

func TestDecodeUTF8LikePython(t *testing.T) {
	cases := map[string]string{
		"\xe2\x82a":         "\ufffda",
		"\xed\xa0\x80":      "\ufffd\ufffd\ufffd",
		"\xf0\x9f\x98":      "\ufffd",
		"\xff\xfe":          "\ufffd\ufffd",
		"\xc3":              "\ufffd",
		"\xe0\x80":          "\ufffd\ufffd",
		"\xf4\x90\x80\x80":  "\ufffd\ufffd\ufffd\ufffd",
		"\xf0\x9f\x98\x80!": "😀!",
	}
	for in, want := range cases {
		if got := decodeUTF8Replace([]byte(in)); got != want {
			t.Errorf("decode %q = %q, want %q", in, got, want)
		}
	}
}

func TestTokenize(t *testing.T) {
	tok := realTokenizer(t)
	got, err := tok.Tokenize("a photo of a cat", 77)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, 77)
	copy(want, []int{49406, 320, 1125, 539, 320, 2368, 49407})
	if !slices.Equal(got, want) {
		t.Errorf("Tokenize = %v", got[:10])
	}
	fits := strings.Repeat("a ", 75)
	if ids, err := tok.Tokenize(fits, 77); err != nil || ids[76] != 49407 {
		t.Errorf("75 words should just fit in 77: %v", err)
	}
	if _, err := tok.Tokenize(fits+"a", 77); err == nil || !strings.Contains(err.Error(), "too long for context length 77") {
		t.Errorf("76 words in 77 should fail, got %v", err)
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := realTokenizer(t)
	want := tok.Encode("a photo of a golden retriever")
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := tok.Encode("a photo of a golden retriever"); !slices.Equal(got, want) {
					errs <- "mismatch"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLoadHFMatchesLoad(t *testing.T) {
	tok := realTokenizer(t)
	dir := t.TempDir()
	vocab := map[string]int{}
	for id := range tok.VocabSize() {
		vocab[tok.Token(id)] = id
	}
	raw, _ := json.Marshal(vocab)
	vocabPath := filepath.Join(dir, "vocab.json")
	if err := os.WriteFile(vocabPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	merges := make([]string, 0, MaxMerges+1)
	merges = append(merges, "#version: 0.2")
	for id := 512; id < tok.SOT(); id++ {
		merges = append(merges, "") // filled below from the ranks
	}
	for p, r := range tok.ranks {
		merges[1+r] = p.left + " " + p.right
	}
	mergesPath := filepath.Join(dir, "merges.txt")
	if err := os.WriteFile(mergesPath, []byte(strings.Join(merges, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hf, err := LoadHF(vocabPath, mergesPath)
	if err != nil {
		t.Fatal(err)
	}
	if hf.VocabSize() != 49408 || hf.SOT() != 49406 || hf.EOT() != 49407 {
		t.Fatalf("HF: size %d SOT %d EOT %d", hf.VocabSize(), hf.SOT(), hf.EOT())
	}
	for _, text := range []string{"a photo of a cat", "crème brûlée 2024!", "東京タワー 😀", "it's"} {
		if a, b := tok.Encode(text), hf.Encode(text); !slices.Equal(a, b) {
			t.Errorf("%q: Load %v, LoadHF %v", text, a, b)
		}
	}

	// A merge whose result is not in vocab.json is reported with its line.
	vocab["qqqqqqqq</w>"] = vocab["photo</w>"]
	delete(vocab, "photo</w>")
	raw, _ = json.Marshal(vocab)
	if err := os.WriteFile(vocabPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHF(vocabPath, mergesPath); err == nil || !strings.Contains(err.Error(), "merges.txt:") {
		t.Errorf("want an error naming merges.txt and a line, got %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"three.txt": "#version: 0.2\ni n\nt h e\n",
		"space.txt": "#version: 0.2\ni n\n\nt h\n",
		"ctrl.txt":  "#version: 0.2\ni n\na\u0001 b\n",
	}
	for name, content := range cases {
		_, err := Load(write(name, content))
		if err == nil || !strings.Contains(err.Error(), name+":3:") {
			t.Errorf("%s: want an error at line 3, got %v", name, err)
		}
	}
	if _, err := Load(write("empty.txt", "")); err == nil {
		t.Error("an empty file should be an error")
	}
	if _, err := Load(filepath.Join(dir, "missing.txt.gz")); err == nil {
		t.Error("a missing file should be an error")
	}
	// A header alone is a valid vocabulary of bytes only.
	tok, err := Load(write("bytes.txt", "#version: 0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 514 || tok.SOT() != 512 {
		t.Errorf("bytes-only vocabulary: size %d SOT %d", tok.VocabSize(), tok.SOT())
	}
	if got := tok.Encode("ab"); !slices.Equal(got, []int{64, 321}) {
		t.Errorf("bytes-only Encode(ab) = %v", got)
	}
}
