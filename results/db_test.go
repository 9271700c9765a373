package results

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// helperEnv makes the test binary act as a second process that opens the
// database named by the variable, writes a grid and exits (see TestMain).
const helperEnv = "RESULTS_TEST_OPEN_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		if err := openAndWrite(path, "process-"+fmt.Sprint(os.Getpid())); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openAndWrite(path, name string) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.UpsertGrid(name, name+".toml", "# "+name)
	return err
}

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "grid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pragma(t *testing.T, db *DB, name string) string {
	t.Helper()
	var v string
	if err := db.sql.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenSetsPragmasAndSchema(t *testing.T) {
	db := openTemp(t)
	if got := pragma(t, db, "journal_mode"); got != "wal" {
		t.Errorf("journal_mode = %s, want wal", got)
	}
	if got := pragma(t, db, "foreign_keys"); got != "1" {
		t.Errorf("foreign_keys = %s, want 1", got)
	}
	if got := pragma(t, db, "busy_timeout"); got != "10000" {
		t.Errorf("busy_timeout = %s, want 10000", got)
	}
	if got := pragma(t, db, "synchronous"); got != "1" { // NORMAL
		t.Errorf("synchronous = %s, want 1 (NORMAL)", got)
	}
	if got := pragma(t, db, "user_version"); got != fmt.Sprint(SchemaVersion()) {
		t.Errorf("user_version = %s, want %d", got, SchemaVersion())
	}
	for _, table := range []string{"grids", "jobs", "grid_jobs", "job_deps", "metrics", "evaluations", "prompts", "artifacts"} {
		var n int
		if err := db.sql.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing (err %v)", table, err)
		}
	}
}

func TestReopenKeepsDataAndVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grid.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.UpsertGrid("g", "g.toml", "a = 1")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for i := 0; i < 2; i++ {
		db, err = Open(path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		g, err := db.GridByName("g")
		if err != nil || g.ID != id || g.Source != "a = 1" {
			t.Fatalf("reopen %d: grid %+v, %v", i, g, err)
		}
		if got := pragma(t, db, "user_version"); got != fmt.Sprint(SchemaVersion()) {
			t.Fatalf("reopen %d: user_version %s", i, got)
		}
		db.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grid.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.sql.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(path); err == nil {
		t.Fatal("opening a database from a newer grid succeeded")
	}
}

func TestOpenPathWithURIReservedCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run?x=1#frag%20")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "grid.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.UpsertGrid("g", "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at the given path: %v", err)
	}
}

// Several processes and several handles in this process open one new file at
// the same moment: each must find the schema migrated exactly once and be
// able to write.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grid.db")
	const processes, handles = 4, 4

	var cmds []*exec.Cmd
	for i := 0; i < processes; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+path)
		cmds = append(cmds, cmd)
	}
	outputs := make([][]byte, processes)
	var wg sync.WaitGroup
	errs := make([]error, processes+handles)
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outputs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	for i := 0; i < handles; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[processes+i] = openAndWrite(path, fmt.Sprintf("handle-%d", i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			out := ""
			if i < processes {
				out = string(outputs[i])
			}
			t.Errorf("opener %d: %v %s", i, err, out)
		}
	}

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	grids, err := db.Grids()
	if err != nil {
		t.Fatal(err)
	}
	if len(grids) != processes+handles {
		t.Errorf("%d grids written, want %d", len(grids), processes+handles)
	}
	if got := pragma(t, db, "user_version"); got != fmt.Sprint(SchemaVersion()) {
		t.Errorf("user_version = %s", got)
	}
}

func TestUpsertGridKeepsIDAndUpdatesSource(t *testing.T) {
	db := openTemp(t)
	id1, err := db.UpsertGrid("sweep", "a/grid.toml", "n_ctx = [1]")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := db.UpsertGrid("sweep", "b/grid.toml", "n_ctx = [1, 2]")
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Fatalf("re-running a grid changed its id: %d then %d", id1, id2)
	}
	g, err := db.GridByName("sweep")
	if err != nil {
		t.Fatal(err)
	}
	if g.File != "b/grid.toml" || g.Source != "n_ctx = [1, 2]" || g.Updated.Before(g.Created) {
		t.Errorf("grid after second run: %+v", g)
	}
	if _, err := db.GridByName("other"); !isNotFound(err) {
		t.Errorf("unknown grid: err %v, want ErrNotFound", err)
	}
	if _, err := db.UpsertGrid("", "", ""); err == nil {
		t.Error("empty grid name accepted")
	}
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
