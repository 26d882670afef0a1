package node

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/placement"
	"github.com/shoal-dev/shoal/placement/placementtest"
)

// The real state store meets the same Reader contract as placement's fake.
func TestStoreMeetsReaderContract(t *testing.T) {
	placementtest.ReaderContract(t, func(t *testing.T, objs ...api.Object) placement.Reader {
		s := consensus.NewStore()
		var ops []consensus.Op
		for _, o := range objs {
			op, err := consensus.OpFor(consensus.OpCreate, o)
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		if res := s.Apply(1, consensus.WriteCommand{Time: time.Now(), Ops: ops}); res.Err != nil {
			t.Fatal(res.Err)
		}
		return s
	})
}
