package bridge

import (
	"testing"

	"github.com/siembridge/siembridge/deliver"
)

// TestVolumeStats: each stage counter lands in its field, and the bytes
// saved are in minus out, negative when add_fields adds more than the
// route leaves out.
func TestVolumeStats(t *testing.T) {
	var c deliver.Counters
	c.Filtered.Store(1)
	c.FilteredBytes.Store(2)
	c.SampledOut.Store(3)
	c.SampledOutBytes.Store(4)
	c.Shaped.Store(5)
	c.NotJSON.Store(6)
	c.RenameErrors.Store(7)
	c.VolumeInBytes.Store(1000)
	c.VolumeOutBytes.Store(400)
	want := VolumeStats{Filtered: 1, FilteredBytes: 2, SampledOut: 3, SampledOutBytes: 4, Shaped: 5, NotJSON: 6, RenameErrors: 7,
		InBytes: 1000, OutBytes: 400, SavedBytes: 600}
	if got := volumeStats(&c); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	c.VolumeOutBytes.Store(1100)
	if got := volumeStats(&c).SavedBytes; got != -100 {
		t.Errorf("saved %d with more out than in, want -100", got)
	}
}
