package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siembridge/siembridge/bridge"
)

// volumeDescs are the counters of a route's volume control (issue 15),
// read from bridge.VolumeStats at scrape time.
type volumeDescs struct {
	filtered, filteredBytes     *prometheus.Desc
	sampledOut, sampledOutBytes *prometheus.Desc
	shaped, notJSON, renameErrs *prometheus.Desc
	inBytes, outBytes           *prometheus.Desc
}

func newVolumeDescs() volumeDescs {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, []string{"route"}, nil)
	}
	return volumeDescs{
		filtered:        d("events_filtered_total", "Events routes[].filter did not accept; committed as done, not sent."),
		filteredBytes:   d("bytes_filtered_total", "Bytes of the events routes[].filter did not accept."),
		sampledOut:      d("events_sampled_out_total", "Events routes[].sample left out; committed as done, not sent."),
		sampledOutBytes: d("bytes_sampled_out_total", "Bytes of the events routes[].sample left out."),
		shaped:          d("events_shaped_total", "Events whose fields drop_fields, keep_fields, rename_fields or add_fields changed."),
		notJSON:         d("events_not_json_passed_total", "Events of a shaping route that were not JSON objects and passed unshaped."),
		renameErrs:      d("events_rename_errors_total", "Events with a rename_fields error (a field missing, a target taken)."),
		inBytes:         d("bytes_volume_in_total", "Bytes of the events entering a route's filter, sampling and shaping (0 on a route without any)."),
		outBytes:        d("bytes_volume_out_total", "Bytes of the events leaving them for the sink, as shaped; in minus out is what the route saved."),
	}
}

func (v volumeDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{v.filtered, v.filteredBytes, v.sampledOut, v.sampledOutBytes, v.shaped, v.notJSON, v.renameErrs, v.inBytes, v.outBytes}
}

// collect sends route r's counters.
func (v volumeDescs) collect(ch chan<- prometheus.Metric, r bridge.RouteStats) {
	vs := r.Volume
	for _, m := range []struct {
		d *prometheus.Desc
		n int64
	}{
		{v.filtered, vs.Filtered}, {v.filteredBytes, vs.FilteredBytes},
		{v.sampledOut, vs.SampledOut}, {v.sampledOutBytes, vs.SampledOutBytes},
		{v.shaped, vs.Shaped}, {v.notJSON, vs.NotJSON}, {v.renameErrs, vs.RenameErrors},
		{v.inBytes, vs.InBytes}, {v.outBytes, vs.OutBytes},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.n), r.Name)
	}
}
