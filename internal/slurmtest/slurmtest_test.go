package slurmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterRunsAnArrayAndADependentJob(t *testing.T) {
	c := Start(t)
	defer c.Stop()
	dir := t.TempDir()
	out := filepath.Join(dir, "%a.out")
	array, err := exec.Command("sbatch", "--parsable", "--array=0-1", "--mem=10M", "--output="+out,
		"--wrap", "echo task $SLURM_ARRAY_TASK_ID").CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s", err, array)
	}
	id := strings.TrimSpace(string(array))
	// --wait returns when the dependent job has ended.
	if b, err := exec.Command("sbatch", "--wait", "--dependency=afterok:"+id, "--mem=10M", "--output=/dev/null",
		"--wrap", "true").CombinedOutput(); err != nil {
		t.Fatalf("dependent job: %v: %s", err, b)
	}
	for _, task := range []string{"0", "1"} {
		b, err := os.ReadFile(filepath.Join(dir, task+".out"))
		if err != nil || strings.TrimSpace(string(b)) != "task "+task {
			t.Errorf("task %s wrote %q, %v", task, b, err)
		}
	}
}
