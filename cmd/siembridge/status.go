package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("status", "status --config FILE [--json] [--route NAME]",
		"Per route and partition: committed offset, log end, lag, and the record time of the\n"+
			"oldest event not delivered yet (the record at the committed offset).", stdout)
	path := fs.String("config", "siembridge.yaml", "configuration file")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	only := fs.String("route", "", "show only this route")
	timeout := fs.Duration("fetch-timeout", 3*time.Second, "how long to wait for the record at a committed offset")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return flagErrorf("fetch-timeout", "%s must be > 0", *timeout)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	routes := cfg.Routes
	if *only != "" {
		rc, err := pickRoute(cfg, *only)
		if err != nil {
			return err
		}
		routes = []config.Route{rc}
	}
	k, err := dialKafka(cfg.Kafka)
	if err != nil {
		return err
	}
	defer k.close()
	now := time.Now()
	var out []routeStatus
	for _, rc := range routes {
		rs, err := routeStatusOf(ctx, k, rc, now, *timeout)
		if err != nil {
			return fmt.Errorf("route %s: %w", rc.Name, err)
		}
		out = append(out, rs)
	}
	addDaemonCounters(ctx, cfg.Metrics.Listen, out, stderr)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(statusDoc{Time: now.UTC(), Routes: out})
	}
	writeStatusTable(stdout, out)
	return nil
}

type statusDoc struct {
	Time   time.Time     `json:"time"`
	Routes []routeStatus `json:"routes"`
}

// routeStatus is one route's offsets as Kafka holds them.
type routeStatus struct {
	Route   string `json:"route"`
	Group   string `json:"group"`
	State   string `json:"group_state"`
	Members int    `json:"members"`
	LogEnd  int64  `json:"log_end"`
	Lag     int64  `json:"lag"`
	// Oldest is the earliest of the partitions' oldest undelivered event
	// times; Behind is how long ago that was.
	Oldest        time.Time         `json:"oldest_undelivered,omitzero"`
	BehindSeconds float64           `json:"behind_seconds,omitempty"`
	Partitions    []partitionStatus `json:"partitions"`
	// Volume is what the route's filter, sampling and shaping did, as the
	// running daemon counts them (from its /api/status at metrics.listen);
	// nil when it cannot be asked.
	Volume *bridge.VolumeStats `json:"volume,omitempty"`
	// Budget is the route's daily budget as the running daemon keeps it;
	// nil without one or when the daemon cannot be asked.
	Budget *bridge.BudgetStats `json:"budget,omitempty"`
}

type partitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when it has none (the
	// route then starts at the log start or end, per its start setting).
	Committed int64 `json:"committed"`
	LogStart  int64 `json:"log_start"`
	LogEnd    int64 `json:"log_end"`
	Lag       int64 `json:"lag"`
	// Oldest is the record time at the committed offset: the oldest event
	// the sink does not have. Zero when the lag is 0, or the record could
	// not be read in time (Unknown is then set).
	Oldest        time.Time `json:"oldest_undelivered,omitzero"`
	BehindSeconds float64   `json:"behind_seconds,omitempty"`
	Unknown       bool      `json:"oldest_unknown,omitempty"`

	from int64 // the offset the route reads next
}

func routeStatusOf(ctx context.Context, k *kafkaConn, rc config.Route, now time.Time, timeout time.Duration) (routeStatus, error) {
	rs := routeStatus{Route: rc.Name, Group: rc.GroupID(), State: "Dead"}
	descs, err := k.admin.DescribeConsumerGroups([]string{rc.GroupID()})
	if err != nil {
		return rs, fmt.Errorf("describe group %s: %w", rc.GroupID(), err)
	}
	for _, d := range descs {
		if d.Err == sarama.ErrNoError {
			rs.State, rs.Members = d.State, len(d.Members)
		}
	}
	topics, err := routeTopics(k.client, rc)
	if err != nil {
		return rs, err
	}
	committed, err := committedOffsets(k.admin, rc.GroupID(), topics, k.client)
	if err != nil {
		return rs, err
	}
	for _, topic := range topics {
		parts, err := k.client.Partitions(topic)
		if err != nil {
			return rs, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			ps := partitionStatus{Topic: topic, Partition: p, Committed: -1}
			if ps.LogEnd, err = k.client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
				return rs, fmt.Errorf("log end of %s/%d: %w", topic, p, err)
			}
			if ps.LogStart, err = k.client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
				return rs, fmt.Errorf("log start of %s/%d: %w", topic, p, err)
			}
			if c, ok := committed[topicPart{topic, p}]; ok {
				ps.Committed = c
			}
			// Where the route reads next: the committed offset, the log
			// start when retention deleted it, or the start setting.
			switch {
			case ps.Committed >= 0:
				ps.from = max(ps.Committed, ps.LogStart)
			case rc.Start == "newest":
				ps.from = ps.LogEnd
			default:
				ps.from = ps.LogStart
			}
			ps.Lag = max(0, ps.LogEnd-ps.from)
			rs.Partitions = append(rs.Partitions, ps)
		}
	}
	oldestTimes(ctx, k.client, rs.Partitions, timeout)
	for i := range rs.Partitions {
		ps := &rs.Partitions[i]
		rs.LogEnd += ps.LogEnd
		rs.Lag += ps.Lag
		if ps.Oldest.IsZero() {
			continue
		}
		ps.BehindSeconds = behind(now, ps.Oldest)
		if rs.Oldest.IsZero() || ps.Oldest.Before(rs.Oldest) {
			rs.Oldest = ps.Oldest
		}
	}
	if !rs.Oldest.IsZero() {
		rs.BehindSeconds = behind(now, rs.Oldest)
	}
	return rs, nil
}

func behind(now, t time.Time) float64 {
	return max(0, now.Sub(t).Seconds())
}

// oldestTimes reads, for every partition with a lag, the first record at
// its next offset, a few partitions at a time, each within timeout.
func oldestTimes(ctx context.Context, client sarama.Client, parts []partitionStatus, timeout time.Duration) {
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		for i := range parts {
			parts[i].Unknown = parts[i].Lag > 0
		}
		return
	}
	defer consumer.Close()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range parts {
		ps := &parts[i]
		if ps.Lag == 0 {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ts, ok := recordTime(ctx, consumer, ps.Topic, ps.Partition, ps.from, timeout)
			ps.Oldest, ps.Unknown = ts, !ok
		})
	}
	wg.Wait()
}

// recordTime returns the timestamp of the first record at or after offset.
func recordTime(ctx context.Context, consumer sarama.Consumer, topic string, partition int32, offset int64, timeout time.Duration) (time.Time, bool) {
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return time.Time{}, false
	}
	defer pc.Close()
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				return time.Time{}, false
			}
			return m.Timestamp.UTC(), true
		case <-pc.Errors():
			// Transient fetch errors are retried by the consumer until
			// the timeout.
		case <-t.C:
			return time.Time{}, false
		case <-ctx.Done():
			return time.Time{}, false
		}
	}
}

// writeStatusTable prints one block per route: a header line, then an
// aligned row per partition and a total row.
func writeStatusTable(w io.Writer, routes []routeStatus) {
	for i, rs := range routes {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "route %s  group %s (%s, %d member%s)\n", rs.Route, rs.Group, rs.State, rs.Members, pluralS(rs.Members))
		if line := volumeLine(rs.Volume); line != "" {
			fmt.Fprintln(w, line)
		}
		for _, line := range budgetLines(rs.Budget, time.Now()) {
			fmt.Fprintln(w, line)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprint(tw, "  TOPIC\tPARTITION\tCOMMITTED\tLOG END\tLAG\tOLDEST UNDELIVERED\tBEHIND\n")
		ps := append([]partitionStatus(nil), rs.Partitions...)
		sort.Slice(ps, func(a, b int) bool {
			if ps[a].Topic != ps[b].Topic {
				return ps[a].Topic < ps[b].Topic
			}
			return ps[a].Partition < ps[b].Partition
		})
		for _, p := range ps {
			oldest, beh := "-", "-"
			switch {
			case !p.Oldest.IsZero():
				oldest, beh = p.Oldest.UTC().Format("2006-01-02T15:04:05.000Z"), fmtBehind(p.BehindSeconds)
			case p.Unknown:
				oldest, beh = "?", "?"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%d\t%s\t%s\n", p.Topic, p.Partition, offsetStr(p.Committed), p.LogEnd, p.Lag, oldest, beh)
		}
		oldest, beh := "-", "-"
		if !rs.Oldest.IsZero() {
			oldest, beh = rs.Oldest.UTC().Format("2006-01-02T15:04:05.000Z"), fmtBehind(rs.BehindSeconds)
		}
		fmt.Fprintf(tw, "  total\t\t\t%d\t%d\t%s\t%s\n", rs.LogEnd, rs.Lag, oldest, beh)
		tw.Flush()
	}
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// fmtBehind prints a duration in seconds compactly: 45s, 12m30s, 3h05m,
// 2d04h.
func fmtBehind(sec float64) string {
	d := time.Duration(sec * float64(time.Second)).Round(time.Second)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
