package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/bridge"
	"github.com/siembridge/siembridge/config"
)

func cmdRewind(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rewind", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: siembridge rewind --config FILE --route NAME --to T [--force] [--dry-run]")
		fmt.Fprintln(stderr, "\nMoves the route's consumer-group offsets to the first record at or after T, so that")
		fmt.Fprintln(stderr, "the next 'siembridge run' delivers again from T (after the SIEM lost indexed data).")
		fmt.Fprintln(stderr, "Stop the bridge first. Times: RFC 3339, \"now\", or ago: -2h, -1d.\n\nFlags:")
		fs.PrintDefaults()
	}
	path := fs.String("config", "siembridge.yaml", "configuration file")
	routeName := fs.String("route", "", "route whose group to rewind (default: the only route)")
	toFlag := fs.String("to", "", "time to rewind to (required)")
	force := fs.Bool("force", false, "rewind although the group has live members (Kafka normally refuses the commit then)")
	dryRun := fs.Bool("dry-run", false, "print the offsets the rewind would commit, commit nothing")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *toFlag == "" {
		return usagef("--to is required")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	rc, err := pickRoute(cfg, *routeName)
	if err != nil {
		return err
	}
	to, err := parseTime(*toFlag, time.Now())
	if err != nil {
		return usagef("--to: %v", err)
	}

	k, err := dialKafka(cfg.Kafka)
	if err != nil {
		return err
	}
	defer k.close()
	plan, err := planRewind(k, rc, to, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "route %s, group %s: rewind to %s\n", rc.Name, rc.Group, fmtUTC(to))
	if *dryRun {
		writeRewindTable(stdout, plan, false)
		fmt.Fprintln(stdout, "dry run: nothing committed")
		return nil
	}
	if err := commitRewind(k.admin, rc.Group, plan, to); err != nil {
		writeRewindTable(stdout, plan, false)
		return err
	}
	// Read the offsets back: the table shows what the group now holds.
	after, err := committedOffsets(k.admin, rc.Group, rc.Topics, k.client)
	if err != nil {
		return fmt.Errorf("rewind committed, but reading the offsets back failed: %w", err)
	}
	for i := range plan {
		plan[i].After = after[topicPart{plan[i].Topic, plan[i].Partition}]
	}
	writeRewindTable(stdout, plan, true)
	return nil
}

type topicPart struct {
	topic     string
	partition int32
}

// rewindRow is one partition of a rewind.
type rewindRow struct {
	Topic     string
	Partition int32
	Before    int64 // committed before, -1 when none
	Target    int64 // first offset at or after the time, or the log end
	After     int64 // committed after, read back
	LogEnd    int64
	AtEnd     bool // no record at or after the time: Target is the log end
}

// planRewind refuses a group with live members (unless force) and
// computes each partition's target offset.
func planRewind(k *kafkaConn, rc config.Route, to time.Time, force bool) ([]rewindRow, error) {
	descs, err := k.admin.DescribeConsumerGroups([]string{rc.Group})
	if err != nil {
		return nil, fmt.Errorf("describe group %s: %w", rc.Group, err)
	}
	for _, d := range descs {
		if d.Err != sarama.ErrNoError && d.Err != sarama.ErrGroupIDNotFound {
			return nil, fmt.Errorf("describe group %s: %w", rc.Group, d.Err)
		}
		if n := len(d.Members); n > 0 {
			if !force {
				return nil, fmt.Errorf("group %s has %d live member(s) (state %s): stop the bridge of route %s first, or use --force", rc.Group, n, d.State, rc.Name)
			}
		}
	}
	before, err := committedOffsets(k.admin, rc.Group, rc.Topics, k.client)
	if err != nil {
		return nil, err
	}
	var rows []rewindRow
	for _, topic := range rc.Topics {
		parts, err := k.client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			end, err := k.client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("log end of %s/%d: %w", topic, p, err)
			}
			target, err := k.client.GetOffset(topic, p, to.UnixMilli())
			if err != nil {
				return nil, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, fmtUTC(to), err)
			}
			row := rewindRow{Topic: topic, Partition: p, Before: -1, Target: target, After: -1, LogEnd: end}
			if target < 0 || target > end {
				row.Target, row.AtEnd = end, true
			}
			if b, ok := before[topicPart{topic, p}]; ok {
				row.Before = b
			}
			rows = append(rows, row)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	return rows, nil
}

// commitRewind commits the target offsets for the group (OffsetCommit
// with no generation, which Kafka accepts for a group without members).
func commitRewind(admin sarama.ClusterAdmin, group string, rows []rewindRow, to time.Time) error {
	offsets := map[string]map[int32]sarama.OffsetAndMetadata{}
	meta := "siembridge rewind to " + fmtUTC(to)
	for _, r := range rows {
		if offsets[r.Topic] == nil {
			offsets[r.Topic] = map[int32]sarama.OffsetAndMetadata{}
		}
		offsets[r.Topic][r.Partition] = sarama.OffsetAndMetadata{Offset: r.Target, Metadata: meta, LeaderEpoch: -1}
	}
	resp, err := admin.AlterConsumerGroupOffsets(group, offsets, nil)
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	var errs []string
	for topic, parts := range resp.Errors {
		for p, kerr := range parts {
			if kerr != sarama.ErrNoError {
				errs = append(errs, fmt.Sprintf("%s/%d: %v", topic, p, kerr))
			}
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		hint := ""
		if strings.Contains(strings.Join(errs, " "), "generation") || strings.Contains(strings.Join(errs, " "), "member") {
			hint = " (a group with live members takes commits only from its members: stop the bridge)"
		}
		return fmt.Errorf("the broker refused the commit of group %s: %s%s", group, strings.Join(errs, "; "), hint)
	}
	return nil
}

func writeRewindTable(w io.Writer, rows []rewindRow, committed bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	last := "AFTER"
	if !committed {
		last = "TARGET"
	}
	fmt.Fprintf(tw, "TOPIC\tPARTITION\tBEFORE\t%s\tLOG END\tTO DELIVER AGAIN\n", last)
	for _, r := range rows {
		after := r.After
		if !committed {
			after = r.Target
		}
		again := "-"
		if r.Before >= 0 && after >= 0 && r.Before > after {
			again = strconv.FormatInt(r.Before-after, 10)
		}
		note := ""
		if r.AtEnd {
			note = "  (no record at or after the time: log end)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s%s\n", r.Topic, r.Partition, offsetStr(r.Before), offsetStr(after), r.LogEnd, again, note)
	}
	tw.Flush()
}

func offsetStr(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// kafkaConn is a client and an admin on it, for the offset commands.
type kafkaConn struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

func dialKafka(k config.Kafka) (*kafkaConn, error) {
	sc, err := bridge.SaramaConfig(k)
	if err != nil {
		return nil, usageError{err}
	}
	client, err := sarama.NewClient(k.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka %s: %w", strings.Join(k.Brokers, ","), err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("kafka admin: %w", err)
	}
	return &kafkaConn{client: client, admin: admin}, nil
}

// close closes the admin, which closes the client.
func (k *kafkaConn) close() { k.admin.Close() }

// committedOffsets returns the group's committed offset of every partition
// of topics that has one.
func committedOffsets(admin sarama.ClusterAdmin, group string, topics []string, client sarama.Client) (map[topicPart]int64, error) {
	req := map[string][]int32{}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("topic %s: %w", t, err)
		}
		req[t] = parts
	}
	resp, err := admin.ListConsumerGroupOffsets(group, req)
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
	out := map[topicPart]int64{}
	for topic, blocks := range resp.Blocks {
		for p, b := range blocks {
			if b.Err != sarama.ErrNoError {
				return nil, fmt.Errorf("offset of group %s on %s/%d: %w", group, topic, p, b.Err)
			}
			if b.Offset >= 0 {
				out[topicPart{topic, p}] = b.Offset
			}
		}
	}
	return out, nil
}
