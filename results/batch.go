package results

import (
	"database/sql"
	"strings"
)

// rowsPerInsert is how many rows one INSERT statement of an inserter
// carries. A statement per row costs a cgo call and a VM start each, which
// for the 500,000 rows of a 200,000-job grid is most of the time; 100 rows
// of up to 6 values stay far below SQLite's limit of bound variables.
const rowsPerInsert = 100

// inserter writes rows into one table with multi-row INSERT statements.
type inserter struct {
	tx         *sql.Tx
	head, tail string // "INSERT INTO t (a, b) VALUES" and what follows the rows
	cols       int
	args       []any
	full       *sql.Stmt // the statement of rowsPerInsert rows, prepared once
}

func newInserter(tx *sql.Tx, head string, cols int, tail string) *inserter {
	return &inserter{tx: tx, head: head, tail: tail, cols: cols}
}

// add queues one row (cols values), writing a batch when one is full.
func (in *inserter) add(values ...any) error {
	in.args = append(in.args, values...)
	if len(in.args) < rowsPerInsert*in.cols {
		return nil
	}
	if in.full == nil {
		stmt, err := in.tx.Prepare(in.statement(rowsPerInsert))
		if err != nil {
			return err
		}
		in.full = stmt
	}
	_, err := in.full.Exec(in.args...)
	in.args = in.args[:0]
	return err
}

// flush writes the rows queued and releases the statement.
func (in *inserter) flush() error {
	if in.full != nil {
		defer in.full.Close()
	}
	if len(in.args) == 0 {
		return nil
	}
	_, err := in.tx.Exec(in.statement(len(in.args)/in.cols), in.args...)
	in.args = in.args[:0]
	return err
}

func (in *inserter) statement(rows int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", in.cols), ", ") + ")"
	var b strings.Builder
	b.WriteString(in.head)
	b.WriteByte(' ')
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteByte(' ')
	b.WriteString(in.tail)
	return b.String()
}
