package integration

import (
	"fmt"
	"os"
	"testing"
)

func TestZZStartFlake(t *testing.T) {
	for i := range 8 {
		dir := fmt.Sprintf("/tmp/flake/%d", i)
		os.MkdirAll(dir, 0o755)
		ok := t.Run(fmt.Sprint(i), func(t *testing.T) {
			c := &cluster{t: t, dir: dir}
			for j := range 3 {
				c.add(fmt.Sprintf("n%d", j+1), "--log-level", "info")
			}
			c.waitVoters(3)
		})
		if !ok {
			t.Logf("failed start in %s", dir)
			return
		}
	}
}
