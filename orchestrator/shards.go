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
	s, err := Load(gridFile)
	if err != nil {
		return ShardMerge{}, err
	}
	return s.MergeShardsIfRun()
}

// MergeShardsIfRun is MergeShardsOf of a loaded (unrecorded) session: it
// merges into the run's database if there is one, and creates none.
func (s *Session) MergeShardsIfRun() (ShardMerge, error) {
	dbPath := filepath.Join(s.RunDir, DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return ShardMerge{}, nil
	}
	db, err := results.Open(dbPath)
	if err != nil {
		return ShardMerge{}, fmt.Errorf("%s: %w", dbPath, err)
	}
	defer db.Close()
	return mergeShards(db, s.RunDir)
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
