package orchestrator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fomo-grid/grid/results"
	"github.com/fomo-grid/grid/sweeps"
)

// ShardDir is where processes that must not write the run's database (SLURM
// array tasks) publish their results: one shard file each, a results
// database moved into place whole (see results.MergeShard).
func ShardDir(runDir string) string { return filepath.Join(runDir, "shards") }

// ShardMerge sums up a merge of the run's shards.
type ShardMerge struct {
	Shards int // shard files whose content was new
	Jobs   int // jobs taken from them
	// Problems are shards that could not be merged (damaged, or from
	// another grid version): each is skipped and changes nothing.
	Problems []error
}

// MergeShards merges every shard in the run directory into the database.
// Merging is idempotent: content merged before is not read again, and a
// job done in the database stays as it is.
func (s *Session) MergeShards() (ShardMerge, error) {
	return mergeShards(s.DB, s.RunDir)
}

func mergeShards(db *results.DB, runDir string) (ShardMerge, error) {
	var m ShardMerge
	names, err := filesIn(ShardDir(runDir), ".db")
	if err != nil {
		return m, err
	}
	for _, name := range names {
		r, err := db.MergeShard(filepath.Join(ShardDir(runDir), name))
		if err != nil {
			m.Problems = append(m.Problems, err)
			continue
		}
		if !r.Unchanged {
			m.Shards++
			m.Jobs += r.Jobs
		}
	}
	return m, nil
}

// MergeShardsOf merges the shards of a grid file's run directory, if it has
// a database; `grid status` calls it before reading.
func MergeShardsOf(gridFile string) (ShardMerge, error) {
	s, err := openExisting(gridFile)
	if err != nil || s == nil {
		return ShardMerge{}, err
	}
	defer s.DB.Close()
	return s.MergeShards()
}

// openExisting opens the database of a grid file's run without creating
// one: nil when the grid was never run.
func openExisting(gridFile string) (*Session, error) {
	g, err := sweeps.Load(gridFile)
	if err != nil {
		return nil, err
	}
	runDir := g.Resolve(g.Out)
	dbPath := filepath.Join(runDir, DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return nil, nil
	}
	db, err := results.Open(dbPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dbPath, err)
	}
	return &Session{Grid: g, RunDir: runDir, DB: db}, nil
}

// OpenRunDir opens the database of an existing run directory and merges its
// shards into it: the SLURM merge job works from the run directory its
// submission recorded, not from the grid file, which may have changed.
func OpenRunDir(runDir string) (*results.DB, ShardMerge, error) {
	dbPath := filepath.Join(runDir, DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return nil, ShardMerge{}, err
	}
	db, err := results.Open(dbPath)
	if err != nil {
		return nil, ShardMerge{}, err
	}
	m, err := mergeShards(db, runDir)
	if err != nil {
		db.Close()
		return nil, m, err
	}
	return db, m, nil
}

// filesIn lists the names of a directory's files with the suffix, sorted;
// none when the directory does not exist. Names starting with a dot are
// temporary files of a write in progress.
func filesIn(dir, suffix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
