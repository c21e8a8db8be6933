package bridge

import "github.com/siembridge/siembridge/deliver"

// VolumeStats is what a route's filter, sampling and shaping did since
// start (issue 15; see deliver.Volume). Bytes are event sizes: in as
// consumed, out as sent (shaped).
type VolumeStats struct {
	Filtered        int64 `json:"filtered"`
	FilteredBytes   int64 `json:"filtered_bytes"`
	SampledOut      int64 `json:"sampled_out"`
	SampledOutBytes int64 `json:"sampled_out_bytes"`
	// Shaped events had fields dropped, kept, renamed or added.
	Shaped int64 `json:"shaped"`
	// NotJSON events were not JSON objects and passed unshaped.
	NotJSON      int64 `json:"not_json"`
	RenameErrors int64 `json:"rename_errors"`
	// InBytes entered the filter, OutBytes left shaping for the sink; both
	// are 0 on a route with neither. SavedBytes is in minus out (a batch
	// being selected may be counted in and not yet out).
	InBytes    int64 `json:"in_bytes"`
	OutBytes   int64 `json:"out_bytes"`
	SavedBytes int64 `json:"saved_bytes"`
}

func volumeStats(c *deliver.Counters) VolumeStats {
	v := VolumeStats{
		Filtered: c.Filtered.Load(), FilteredBytes: c.FilteredBytes.Load(),
		SampledOut: c.SampledOut.Load(), SampledOutBytes: c.SampledOutBytes.Load(),
		Shaped: c.Shaped.Load(), NotJSON: c.NotJSON.Load(), RenameErrors: c.RenameErrors.Load(),
	}
	v.InBytes, v.OutBytes = c.VolumeInBytes.Load(), c.VolumeOutBytes.Load()
	// Negative when add_fields adds more than the route leaves out.
	v.SavedBytes = v.InBytes - v.OutBytes
	return v
}
