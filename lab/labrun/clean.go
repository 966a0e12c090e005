package labrun

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/meridian-traffic/meridian/lab/netns"
)

// runDirPattern names the run directories under the temp directory.
const runDirPattern = "meridian-lab-*"

// Clean removes what runs killed before their teardown left behind: every
// lab namespace (and the processes in it), then every run directory. It
// returns what it removed.
func Clean() ([]string, error) {
	removed, err := netns.Clean()
	dirs, gerr := filepath.Glob(filepath.Join(os.TempDir(), runDirPattern))
	if gerr != nil && err == nil {
		err = gerr
	}
	for _, d := range dirs {
		if rerr := os.RemoveAll(d); rerr != nil && err == nil {
			err = fmt.Errorf("remove %s: %w", d, rerr)
		}
		removed = append(removed, d)
	}
	return removed, err
}
