package deliver

import (
	"sync/atomic"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/event"
	"github.com/siembridge/siembridge/sample"
	"github.com/siembridge/siembridge/shape"
)

// Volume is what a route does to its events after routes[].filter and
// before the rate limit (issue 15): it samples them (routes[].sample),
// then shapes their fields (drop_fields, keep_fields, rename_fields,
// add_fields). Sampling goes first so that its key and its when read the
// event as it arrived — the names the filter reads too — and an event
// sampled out costs no shaping. It is immutable and safe for concurrent
// use; a nil *Volume keeps every event as it is.
type Volume struct {
	sampler *sample.Sampler
	shaper  *shape.Shaper
	// readsFields: the sampler or the shaper reads the event's fields.
	readsFields bool
}

// NewVolume builds route rc's volume control from its configuration
// (defaults applied); nil when rc neither samples nor shapes.
func NewVolume(rc config.Route) (*Volume, error) {
	smp, err := sample.New(rc.Sample)
	if err != nil {
		return nil, err
	}
	var shp *shape.Shaper
	if c, ok := shape.FromRoute(rc); ok {
		if shp, err = shape.New(c); err != nil {
			return nil, err
		}
	}
	if smp == nil && shp == nil {
		return nil, nil
	}
	return &Volume{sampler: smp, shaper: shp, readsFields: shp != nil || smp.ReadsFields()}, nil
}

// ReadsFields reports whether route rc's sampling or shaping reads the
// fields of its events (NewVolume then checks an unchecked event before
// it does): the bridge and replay then make checked events from the
// start (see AcceptsUnchecked) rather than skim and check them twice.
func ReadsFields(rc config.Route) bool {
	s := rc.Sample
	return rc.HasShaping() || s != nil && s.Rate < 1 && (s.Key != "" || s.When != "")
}

// Step is what Volume.Apply did to one event.
type Step struct {
	// SampledOut: the event is not sent.
	SampledOut bool
	// Shaped: the event's document changed (a new one, of another size).
	Shaped bool
	// NotJSON: the record was not a JSON object (event.Wrapped); it passes
	// unshaped, as it is.
	NotJSON bool
	// RenameErr is the first rename_fields error, nil when none.
	RenameErr error
}

// Apply returns ev as it is to be sent, or a shaped copy of it (ev itself
// is not modified: its ID, offsets and Value stay, its Doc and so its Size
// are the shaped document), and what it did. It does not block.
func (v *Volume) Apply(ev *event.Event) (*event.Event, Step) {
	var st Step
	if v == nil {
		return ev, st
	}
	if ev.Unchecked && v.readsFields {
		// Fields are read (and written): Doc must be checked JSON.
		ev = ev.Checked()
	}
	if !v.sampler.Keep(ev) {
		st.SampledOut = true
		return ev, st
	}
	if v.shaper == nil {
		return ev, st
	}
	if ev.Wrapped {
		st.NotJSON = true
		return ev, st
	}
	doc, res := v.shaper.Shape(ev.Doc)
	st.RenameErr = res.RenameErr
	if !res.Changed {
		return ev, st
	}
	c := *ev
	c.Doc = doc
	st.Shaped = true
	return &c, st
}

// selectEvents applies the route's filter and volume control to evs and
// counts what they did; it returns the events to send.
func (s *Stage) selectEvents(evs []*event.Event) []*event.Event {
	kept := evs[:0:0]
	var in, out, filtered, filteredB, sampled, sampledB, shaped, notJSON, renameErr int64
	for _, ev := range evs {
		size := int64(ev.Size())
		in += size
		if s.cfg.Filter != nil && !s.cfg.Filter(ev) {
			filtered++
			filteredB += size
			continue
		}
		ev, st := s.cfg.Volume.Apply(ev)
		switch {
		case st.SampledOut:
			sampled++
			sampledB += size
			continue
		case st.Shaped:
			shaped++
		case st.NotJSON:
			notJSON++
		}
		if st.RenameErr != nil {
			renameErr++
		}
		out += int64(ev.Size())
		kept = append(kept, ev)
	}
	c := &s.counters
	c.VolumeInBytes.Add(in)
	c.VolumeOutBytes.Add(out)
	addNonZero(&c.Filtered, filtered)
	addNonZero(&c.FilteredBytes, filteredB)
	addNonZero(&c.SampledOut, sampled)
	addNonZero(&c.SampledOutBytes, sampledB)
	addNonZero(&c.Shaped, shaped)
	addNonZero(&c.NotJSON, notJSON)
	addNonZero(&c.RenameErrors, renameErr)
	return kept
}

func addNonZero(c *atomic.Int64, n int64) {
	if n != 0 {
		c.Add(n)
	}
}
