package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"html"
	"strconv"
	"strings"
)

// table is one table of the report, printed by the one printer below as
// Markdown, CSV, LaTeX and HTML.
type table struct {
	name    string // file name without extension
	title   string
	caption string // what the rows and columns are, how they are ranked
	cols    []column
	rows    [][]field
}

// column is a table column. Numbers align right; a stat column shows mean
// ± std and becomes two columns in CSV (the value and "<head> std").
type column struct {
	head    string
	numeric bool
	stat    bool
}

// field is one table cell: text, a stat, or a verbatim prompt.
type field struct {
	text  string
	s     stat
	isNum bool   // s holds the value
	delta bool   // signed: a difference
	code  bool   // verbatim text (a prompt)
	link  string // Markdown/HTML link target of text
}

// Constructors of fields and columns, so that a view's rows read as rows.
func str(s string) field                { return field{text: s} }
func num(s stat) field                  { return field{s: s, isNum: true} }
func diff(s stat) field                 { return field{s: s, isNum: true, delta: true} }
func prompt(s string) field             { return field{text: s, code: true} }
func linked(s, target string) field     { return field{text: s, link: target} }
func plainNum(v float64) field          { return num(one(v)) }
func count(n int) field                 { return str(strconv.Itoa(n)) }
func rankField(r int) field             { return str(rankText(r)) }
func (t *table) add(fields ...field)    { t.rows = append(t.rows, fields) }
func col(head string) column            { return column{head: head} }
func numCol(head string) column         { return column{head: head, numeric: true} }
func statCol(head string) column        { return column{head: head, numeric: true, stat: true} }
func (t *table) file(ext string) string { return t.name + "." + ext }

const missing = "—"

func rankText(r int) string {
	if r == 0 {
		return missing
	}
	return strconv.Itoa(r)
}

// number formats a value as the tables show it: two decimals, a sign for
// differences.
func number(v float64, delta bool) string {
	if !finite(v) {
		return missing
	}
	if delta {
		return fmt.Sprintf("%+.2f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// show is the field as text, with sep between mean and std.
func (f field) show(sep string) string {
	if !f.isNum {
		return f.text
	}
	if !f.s.ok() {
		return missing
	}
	s := number(f.s.mean, f.delta)
	if f.s.n > 1 {
		s += sep + fmt.Sprintf("%.2f", f.s.std)
	}
	return s
}

// markdown prints the table under a heading of the given level.
func (t *table) markdown(level int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n\n", strings.Repeat("#", level), t.title)
	if t.caption != "" {
		b.WriteString(t.caption + "\n\n")
	}
	b.WriteString("|")
	align := "|"
	for _, c := range t.cols {
		b.WriteString(" " + mdCell(c.head) + " |")
		if c.numeric {
			align += "---:|"
		} else {
			align += "---|"
		}
	}
	b.WriteString("\n" + align + "\n")
	for _, row := range t.rows {
		b.WriteString("|")
		for _, f := range row {
			b.WriteString(" " + f.markdown() + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (f field) markdown() string {
	switch {
	case f.code:
		return code(f.text)
	case f.link != "":
		return "[" + mdCell(f.text) + "](" + f.link + ")"
	}
	return mdCell(f.show(" ± "))
}

// mdCell makes s safe inside a Markdown table cell.
func mdCell(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	return strings.TrimSpace(s)
}

// code shows a prompt verbatim (spaces and punctuation matter) as a code
// span, which GitHub renders inside tables as long as pipes are escaped.
func code(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	if s == "" {
		return missing
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") {
		pad = " "
	}
	return fence + pad + strings.ReplaceAll(s, "|", `\|`) + pad + fence
}

// csv prints the table for spreadsheets and scripts: numbers with four
// decimals, a stat's std in a column of its own, empty for missing.
func (t *table) csv() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	var head []string
	for _, c := range t.cols {
		head = append(head, c.head)
		if c.stat {
			head = append(head, c.head+" std")
		}
	}
	w.Write(head)
	for _, row := range t.rows {
		var rec []string
		for i, f := range row {
			switch {
			case !f.isNum:
				rec = append(rec, f.text)
			case f.s.ok():
				rec = append(rec, strconv.FormatFloat(f.s.mean, 'f', 4, 64))
			default:
				rec = append(rec, "")
			}
			if i < len(t.cols) && t.cols[i].stat {
				std := ""
				if f.isNum && f.s.n > 1 {
					std = strconv.FormatFloat(f.s.std, 'f', 4, 64)
				}
				rec = append(rec, std)
			}
		}
		w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// latex prints the table as a booktabs tabular, the rows a paper pastes in.
func (t *table) latex() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%% %s\n%% Needs \\usepackage{booktabs}. Generated by grid report.\n", t.title)
	spec := ""
	for _, c := range t.cols {
		if c.numeric {
			spec += "r"
		} else {
			spec += "l"
		}
	}
	fmt.Fprintf(&b, "\\begin{tabular}{%s}\n\\toprule\n", spec)
	heads := make([]string, len(t.cols))
	for i, c := range t.cols {
		heads[i] = texEscape(c.head)
	}
	b.WriteString(strings.Join(heads, " & ") + " \\\\\n\\midrule\n")
	for _, row := range t.rows {
		cells := make([]string, len(row))
		for i, f := range row {
			switch {
			case f.code:
				cells[i] = "\\texttt{" + texEscape(f.text) + "}"
			case f.isNum:
				cells[i] = strings.Replace(texEscape(f.show("±")), "±", "\\,$\\pm$\\,", 1)
			default:
				cells[i] = texEscape(f.text)
			}
		}
		b.WriteString(strings.Join(cells, " & ") + " \\\\\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	return b.String()
}

// texEscape escapes LaTeX's special characters.
func texEscape(s string) string {
	return strings.NewReplacer(`\`, `\textbackslash{}`, "&", `\&`, "%", `\%`, "$", `\$`, "#", `\#`,
		"_", `\_`, "{", `\{`, "}", `\}`, "~", `\textasciitilde{}`, "^", `\textasciicircum{}`,
		"—", "---", "Δ", `$\Delta$`, "·", `$\cdot$`).Replace(s)
}

// html prints the table; at most limit rows (0: all), the rest counted.
func (t *table) html(limit int) string {
	var b strings.Builder
	b.WriteString("<table>\n<thead><tr>")
	for _, c := range t.cols {
		class := ""
		if c.numeric {
			class = ` class="num"`
		}
		fmt.Fprintf(&b, "<th%s>%s</th>", class, html.EscapeString(c.head))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	rows := t.rows
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	for _, row := range rows {
		b.WriteString("<tr>")
		for i, f := range row {
			class := ""
			if i < len(t.cols) && t.cols[i].numeric {
				class = ` class="num"`
			}
			fmt.Fprintf(&b, "<td%s>%s</td>", class, f.html())
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	if more := len(t.rows) - len(rows); more > 0 {
		fmt.Fprintf(&b, "<p class=\"more\">%d more rows in <a href=\"%s\">%s</a> and <a href=\"%s\">%s</a>.</p>\n",
			more, t.file("md"), t.file("md"), t.file("csv"), t.file("csv"))
	}
	return b.String()
}

func (f field) html() string {
	switch {
	case f.code:
		if f.text == "" {
			return missing
		}
		return "<code>" + html.EscapeString(f.text) + "</code>"
	case f.link != "":
		return `<a href="` + html.EscapeString(f.link) + `">` + html.EscapeString(f.text) + "</a>"
	}
	return html.EscapeString(f.show(" ± "))
}
