package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache/pkg/agentapi"
)

// statusTimeout bounds one question to the agent.
const statusTimeout = 5 * time.Second

// newWaitReadyCommand is `whycache wait-ready`: the init container that the
// operator's pod webhook adds runs it, so that a pod starts only once the
// node's agent is ready.
func newWaitReadyCommand(g *globals) *cobra.Command {
	var timeout, interval time.Duration
	cmd := &cobra.Command{
		Use:   "wait-ready",
		Short: "Wait until the node's agent for --dir is ready (its file caught up with the log)",
		Long: `wait-ready asks the agent that serves --dir, through its socket in the
directory (which works from a read-only mount), whether it is ready: started,
caught up with the log and within its lag bounds. It returns once it is, and
says on standard error what it is waiting for whenever that changes. With
--timeout it gives up after that long; without, it waits for as long as it
takes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.dir == "" {
				return errors.New("--dir (or $WHYCACHE_DIR) is required")
			}
			if interval <= 0 {
				return fmt.Errorf("--interval %s: must be positive", interval)
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return waitReady(ctx, g.dir, interval, g.errOut)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait for as long as it takes)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to ask the agent")
	return cmd
}

// waitReady asks the agent of dir every interval until it is ready or ctx
// ends, logging to log whenever the reason it waits changes.
func waitReady(ctx context.Context, dir string, interval time.Duration, log io.Writer) error {
	sock := filepath.Join(dir, agentapi.SocketName)
	c := unixClient(sock)
	defer c.CloseIdleConnections()
	last := ""
	for {
		st, err := askAgent(ctx, c, sock)
		ready, why := readyState(st, err)
		if ready {
			fmt.Fprintf(log, "the agent of %s is ready: %s\n", dir, why)
			return nil
		}
		if ctx.Err() != nil && last != "" {
			why = last // the deadline cut this call short: the last answer says more
		}
		if why != last {
			fmt.Fprintf(log, "waiting for the agent of %s: %s\n", dir, why)
			last = why
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			return fmt.Errorf("the agent of %s was not ready in time (--timeout): %s", dir, why)
		case <-t.C:
		}
	}
}

// askAgent asks the agent behind sock for its status. A missing socket is
// found without a call, so that the reason given at a short --timeout is
// that one, never the deadline cutting a dial short; a call that the
// deadline cuts short says so (a refusal or any other answer stays what
// it is).
func askAgent(ctx context.Context, c *http.Client, sock string) (agentapi.Status, error) {
	if _, err := os.Stat(sock); err != nil {
		return agentapi.Status{}, err
	}
	st, err := agentStatus(ctx, c)
	if ctx.Err() != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return st, errors.New("the agent did not answer before the deadline")
	}
	return st, err
}

// readyState says, from one answer of the agent (or the error in getting
// it), whether the agent is ready, and, for people, why or why not.
func readyState(st agentapi.Status, err error) (bool, string) {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, "no agent socket yet (the agent has not started on this node, or has not opened the cache file)"
	case errors.Is(err, errConnRefused):
		return false, "the agent's socket does not answer (the agent is stopped or restarting)"
	case err != nil:
		return false, err.Error()
	case st.Ready:
		return true, fmt.Sprintf("applied update %d of %d", st.AppliedID, st.HeadID)
	case st.Reason != "":
		return false, fmt.Sprintf("not ready: %s (applied update %d of %d)", st.Reason, st.AppliedID, st.HeadID)
	default:
		// An agent older than the status's reason.
		return false, fmt.Sprintf("not ready: applied update %d of %d", st.AppliedID, st.HeadID)
	}
}

// errConnRefused marks a socket file that no agent listens on.
var errConnRefused = errors.New("connection refused")

// unixClient is an HTTP client that reaches the agent through its socket.
func unixClient(sock string) *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: statusTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
}

// agentStatus asks the agent for its status.
func agentStatus(ctx context.Context, c *http.Client) (agentapi.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+agentapi.PathStatus, nil)
	if err != nil {
		return agentapi.Status{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return agentapi.Status{}, classifyDialError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return agentapi.Status{}, fmt.Errorf("the agent answered %s", resp.Status)
	}
	var st agentapi.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return agentapi.Status{}, fmt.Errorf("decode the agent's status: %w", err)
	}
	return st, nil
}

// classifyDialError keeps a missing socket (os.ErrNotExist, which ENOENT
// matches) and marks a socket nobody listens on (errConnRefused).
func classifyDialError(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %w", errConnRefused, err)
	}
	return err
}
