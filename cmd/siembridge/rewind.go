package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/IBM/sarama"

	"github.com/siembridge/siembridge/config"
	"github.com/siembridge/siembridge/kafka"
)

func cmdRewind(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newCmdFlags("rewind", "rewind --config FILE --route NAME --to TIME [--allow-skip] [--force] [--dry-run]",
		"Moves the route's consumer-group offsets back to the first record at or after TIME, so\n"+
			"that the next 'siembridge run' delivers again from TIME (after the SIEM lost indexed\n"+
			"data). A partition whose group is already at or before TIME is left alone: a rewind\n"+
			"never skips an event unless --allow-skip says so. Stop the bridge first.\n"+
			"Times: RFC 3339, \"now\", or ago: -2h, -1d.", stdout)
	var rf routeFlags
	rf.define(fs, "route whose group to rewind")
	toFlag := fs.String("to", "", "time to rewind to (required)")
	allowSkip := fs.Bool("allow-skip", false, "also move partitions forward to T, skipping the undelivered events before T (printed per partition)")
	force := fs.Bool("force", false, "rewind although the group has live members (Kafka normally refuses the commit then)")
	dryRun := fs.Bool("dry-run", false, "print the offsets the rewind would commit, commit nothing")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *toFlag == "" {
		return missingFlag("to", "")
	}
	cfg, rc, err := rf.load()
	if err != nil {
		return err
	}
	to, err := parseTime(*toFlag, time.Now())
	if err != nil {
		return flagErrorf("to", "%v", err)
	}

	k, err := dialKafka(cfg.Kafka)
	if err != nil {
		return err
	}
	defer k.close()
	group := rc.GroupID()
	if err := checkGroupStopped(k.admin, rc, *force); err != nil {
		return err
	}
	parts, topics, err := readRewindOffsets(k, rc, to)
	if err != nil {
		return err
	}
	plan := planRewind(parts, rc.Start, *allowSkip)
	fmt.Fprintf(stdout, "route %s, group %s: rewind to %s\n", rc.Name, group, fmtUTC(to))
	if *dryRun || !plan.commits() {
		writeRewindTable(stdout, plan)
		writeRewindSummary(stdout, plan)
		if *dryRun {
			fmt.Fprintln(stdout, "dry run: nothing committed")
		} else {
			fmt.Fprintln(stdout, "nothing to commit")
		}
		return nil
	}
	if err := commitRewind(k.admin, group, plan, to); err != nil {
		writeRewindTable(stdout, plan)
		return err
	}
	// Read the offsets back: the table shows what the group now holds.
	after, err := committedOffsets(k.admin, group, topics, k.client)
	if err != nil {
		return fmt.Errorf("rewind committed, but reading the offsets back failed: %w", err)
	}
	var differ []string
	for i := range plan.Rows {
		r := &plan.Rows[i]
		r.New = -1
		if o, ok := after[topicPart{r.Topic, r.Partition}]; ok {
			r.New = o
		}
		if r.Commit && r.New != r.Target {
			differ = append(differ, fmt.Sprintf("%s/%d holds %s, not %d", r.Topic, r.Partition, offsetStr(r.New), r.Target))
		}
	}
	writeRewindTable(stdout, plan)
	writeRewindSummary(stdout, plan)
	if len(differ) > 0 {
		return fmt.Errorf("offsets read back differ from the commit (is a bridge running?): %s", strings.Join(differ, "; "))
	}
	return nil
}

type topicPart struct {
	topic     string
	partition int32
}

// partitionOffsets is what the brokers say about one partition before a
// rewind.
type partitionOffsets struct {
	Topic     string
	Partition int32
	Committed int64 // the group's committed offset, -1 when none
	LogStart  int64 // first offset still in the log (retention)
	LogEnd    int64 // offset of the next record to be written
	AtT       int64 // first offset whose timestamp is at or after T, -1 when none
}

// rewindRow is one partition of a rewind plan.
type rewindRow struct {
	partitionOffsets
	// Target is the offset the rewind would move to: AtT, or the log end
	// when no record is at or after T.
	Target int64
	AtEnd  bool // no record at or after T: Target is the log end
	// Start is where the next run would read without a rewind: the
	// committed offset, or, with none (or one outside the log, which the
	// consumer resets), the log start or end as the route's start says.
	Start int64
	// Commit: the plan writes Target for this partition. A partition not
	// committed keeps what it has (New).
	Commit bool
	// New is the offset the group holds after the rewind (-1 when none):
	// planned, then read back.
	New int64
	// Again counts the events the next run delivers again (moving back);
	// Skip those it will never deliver (moving forward, --allow-skip).
	Again, Skip int64
	Note        string
}

// rewindPlan is a whole rewind, in topic and partition order.
type rewindPlan struct {
	Rows []rewindRow
}

func (p rewindPlan) commits() bool {
	for _, r := range p.Rows {
		if r.Commit {
			return true
		}
	}
	return false
}

// planRewind decides each partition's new offset. It is the safety rule of
// rewind and does no I/O.
//
// A rewind exists to deliver again, so a partition only ever moves back:
// new = min(where the next run would start, offset at T). The next run
// starts at the committed offset; without one it starts at the route's
// start: oldest reads from the log start, which is never after T's offset
// (so the partition is left alone, without a commit), newest from the log
// end as it is when the run starts, which is never before T's offset (so T's
// offset is committed, and the run delivers from T). A committed offset
// outside [log start, log end] counts as none: the consumer resets it the
// same way. T after the last record gives the log end; T before the oldest
// retained record gives the log start (the records before it are gone).
//
// With allowSkip every partition goes to T's offset, forward too; Skip
// counts the events a forward move leaves undelivered.
func planRewind(parts []partitionOffsets, start string, allowSkip bool) rewindPlan {
	var plan rewindPlan
	for _, p := range parts {
		r := rewindRow{partitionOffsets: p, Target: p.AtT, New: p.Committed}
		if r.Target < 0 || r.Target > p.LogEnd {
			r.Target, r.AtEnd = p.LogEnd, true
		}
		r.Target = max(r.Target, p.LogStart)
		committed := p.Committed >= p.LogStart && p.Committed <= p.LogEnd && p.Committed >= 0
		// floating: the next run starts at the log end of its own start,
		// later than any offset known now.
		floating := !committed && start == "newest"
		switch {
		case committed:
			r.Start = p.Committed
		case floating:
			r.Start = p.LogEnd
		default:
			r.Start = p.LogStart
		}
		switch {
		case r.Target < r.Start || floating:
			r.Commit, r.New, r.Again = true, r.Target, r.Start-r.Target
			r.Note = fmt.Sprintf("back %d: delivers %s again", r.Again, eventCount(r.Again))
			if floating {
				r.Note = fmt.Sprintf("%s; start: newest reads from the log end", startNote(p))
				if r.Again > 0 {
					r.Note += fmt.Sprintf(": delivers %s more", eventCount(r.Again))
				}
			}
		case r.Target == r.Start:
			r.Note = "left alone: already at T"
			if !committed {
				r.Note = fmt.Sprintf("left alone: %s; start: oldest reads from %d", startNote(p), p.LogStart)
			}
		case allowSkip:
			r.Commit, r.New, r.Skip = true, r.Target, r.Target-r.Start
			r.Note = fmt.Sprintf("FORWARD %d: skips %s", r.Skip, eventCount(r.Skip))
		default:
			r.Note = "left alone: already behind T"
			if !committed {
				r.Note = fmt.Sprintf("left alone: %s; start: oldest reads from %d", startNote(p), p.LogStart)
			}
		}
		if r.AtEnd {
			r.Note += " (no record at or after T: log end)"
		} else if r.Target == p.LogStart && p.LogStart > 0 && r.Commit {
			r.Note += " (log start: older records were deleted)"
		}
		plan.Rows = append(plan.Rows, r)
	}
	sort.Slice(plan.Rows, func(i, j int) bool {
		a, b := plan.Rows[i], plan.Rows[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return plan
}

// startNote says why a partition has no usable committed offset.
func startNote(p partitionOffsets) string {
	if p.Committed < 0 {
		return "no committed offset"
	}
	return fmt.Sprintf("committed offset %d is outside the log [%d, %d]", p.Committed, p.LogStart, p.LogEnd)
}

func eventCount(n int64) string {
	if n == 1 {
		return "1 event"
	}
	return strconv.FormatInt(n, 10) + " events"
}

// checkGroupStopped refuses a group with live members unless force.
func checkGroupStopped(admin sarama.ClusterAdmin, rc config.Route, force bool) error {
	group := rc.GroupID()
	descs, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	for _, d := range descs {
		if d.Err != sarama.ErrNoError && d.Err != sarama.ErrGroupIDNotFound {
			return fmt.Errorf("describe group %s: %w", group, d.Err)
		}
		if n := len(d.Members); n > 0 && !force {
			return fmt.Errorf("group %s has %d live member(s) (state %s): stop the bridge of route %s first, or use --force", group, n, d.State, rc.Name)
		}
	}
	return nil
}

// readRewindOffsets reads, for every partition of the route's topics
// (topics_regex resolved against the brokers' metadata now), the group's
// committed offset, the log start and end, and the offset at time to. It
// returns the topics it read too.
func readRewindOffsets(k *kafkaConn, rc config.Route, to time.Time) ([]partitionOffsets, []string, error) {
	topics, err := routeTopics(k.client, rc)
	if err != nil {
		return nil, nil, err
	}
	committed, err := committedOffsets(k.admin, rc.GroupID(), topics, k.client)
	if err != nil {
		return nil, nil, err
	}
	var out []partitionOffsets
	for _, topic := range topics {
		parts, err := k.client.Partitions(topic)
		if err != nil {
			return nil, nil, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range parts {
			po := partitionOffsets{Topic: topic, Partition: p, Committed: -1}
			if c, ok := committed[topicPart{topic, p}]; ok {
				po.Committed = c
			}
			if po.LogStart, err = k.client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
				return nil, nil, fmt.Errorf("log start of %s/%d: %w", topic, p, err)
			}
			if po.LogEnd, err = k.client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
				return nil, nil, fmt.Errorf("log end of %s/%d: %w", topic, p, err)
			}
			// ListOffsets by timestamp answers -1 when no record is at
			// or after the time.
			if po.AtT, err = k.client.GetOffset(topic, p, to.UnixMilli()); err != nil {
				return nil, nil, fmt.Errorf("offset of %s/%d at %s: %w", topic, p, fmtUTC(to), err)
			}
			out = append(out, po)
		}
	}
	return out, topics, nil
}

// commitRewind commits the target offsets of the partitions the plan
// moves, and only those (OffsetCommit with no generation, which Kafka
// accepts for a group without members).
func commitRewind(admin sarama.ClusterAdmin, group string, plan rewindPlan, to time.Time) error {
	offsets := map[string]map[int32]sarama.OffsetAndMetadata{}
	meta := "siembridge rewind to " + fmtUTC(to)
	for _, r := range plan.Rows {
		if !r.Commit {
			continue
		}
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
		if all := strings.Join(errs, " "); strings.Contains(all, "generation") || strings.Contains(all, "member") {
			hint = " (a group with live members takes commits only from its members: stop the bridge)"
		}
		return fmt.Errorf("the broker refused the commit of group %s: %s%s", group, strings.Join(errs, "; "), hint)
	}
	return nil
}

// writeRewindTable prints committed → new per partition, with what the
// move means.
func writeRewindTable(w io.Writer, plan rewindPlan) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tNEW\tAT T\tLOG START\tLOG END\tMOVE")
	for _, r := range plan.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%s\n", r.Topic, r.Partition, offsetStr(r.Committed), offsetStr(r.New), r.Target, r.LogStart, r.LogEnd, r.Note)
	}
	tw.Flush()
}

// writeRewindSummary prints the totals; skipped events always get a line.
func writeRewindSummary(w io.Writer, plan rewindPlan) {
	var back, fwd, alone int
	var again, skip int64
	for _, r := range plan.Rows {
		switch {
		case r.Skip > 0:
			fwd++
			skip += r.Skip
		case r.Commit:
			back++
			again += r.Again
		default:
			alone++
		}
	}
	fmt.Fprintf(w, "%s moved back (%s to deliver again), %d left alone", checkPlural(back, "partition"), eventCount(again), alone)
	if fwd > 0 {
		fmt.Fprintf(w, ", %s moved forward", checkPlural(fwd, "partition"))
	}
	fmt.Fprintln(w)
	if fwd > 0 {
		fmt.Fprintf(w, "--allow-skip: skips %s in total; they will not be delivered\n", eventCount(skip))
	}
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
	sc, err := kafka.SaramaConfig(k)
	if err != nil {
		return nil, usageError{err: err}
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

// routeTopics is the route's topics: its listed ones and those its
// topics_regex matches in the brokers' metadata now.
func routeTopics(client sarama.Client, rc config.Route) ([]string, error) {
	topics, err := kafka.RouteTopics(client, rc)
	if err != nil {
		return nil, fmt.Errorf("route %s: topics_regex: %w", rc.Name, err)
	}
	return topics, nil
}

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
	out := map[topicPart]int64{}
	resp, err := admin.ListConsumerGroupOffsets(group, req)
	if errors.Is(err, sarama.ErrGroupIDNotFound) {
		// A group that never existed has no offsets (Kafka answers -1
		// per partition, some brokers this error).
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("offsets of group %s: %w", group, err)
	}
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
