package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
	"github.com/whycache/whycache/pkg/logstore/logbench"
)

// relays are `whycache relay` processes started for the measurement, in
// front of one database.
type relays struct {
	cmds  []*exec.Cmd
	addrs []string
}

// relayReadyTimeout bounds how long a relay may take to answer /readyz.
const relayReadyTimeout = 30 * time.Second

// startRelays starts n relays of the binary whycache on free loopback
// ports, each serving the log of the store URL store (which it creates
// first: a relay is ready once it follows its log), and waits until each
// is ready. The relays' output goes to this process's standard error.
func startRelays(ctx context.Context, whycache, store, log string, n int) (*relays, error) {
	s, err := backends.Open(ctx, store, logstore.Options{Name: log, Create: true})
	if err != nil {
		return nil, fmt.Errorf("create the log for the relays: %w", err)
	}
	s.Close()
	rs := &relays{}
	for range n {
		addr, err := freeAddr()
		if err != nil {
			rs.stop()
			return nil, err
		}
		cmd := exec.Command(whycache, "relay", "--listen="+addr)
		// The URL holds a password: the environment, not the command line.
		cmd.Env = append(os.Environ(), "WHYCACHE_STORE="+store, "WHYCACHE_LOG_NAME="+log)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			rs.stop()
			return nil, fmt.Errorf("start %s relay: %w", whycache, err)
		}
		rs.cmds, rs.addrs = append(rs.cmds, cmd), append(rs.addrs, addr)
		if err := waitReady(ctx, addr); err != nil {
			rs.stop()
			return nil, fmt.Errorf("relay on %s: %w", addr, err)
		}
	}
	return rs, nil
}

// url is the store URL that reaches every relay.
func (rs *relays) url() string { return "relay://" + strings.Join(rs.addrs, ",") }

// pids are the relays' process ids.
func (rs *relays) pids() []int {
	var out []int
	for _, c := range rs.cmds {
		out = append(out, c.Process.Pid)
	}
	return out
}

// stop ends the relays (SIGTERM, then SIGKILL after 10 s) and waits for them.
func (rs *relays) stop() {
	for _, c := range rs.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			_ = c.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls the relay's /readyz until it answers 200.
func waitReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, relayReadyTimeout)
	defer cancel()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %w", relayReadyTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// relayTarget returns the target that measures direct through the relays,
// with streams or, when poll is set, long polls.
func relayTarget(direct logbench.Target, rs *relays, log string, poll bool) logbench.Target {
	t := direct
	t.Log = log
	t.Name = fmt.Sprintf("%d relays → %s", len(rs.addrs), direct.Name)
	t.Store, t.WriteStore = rs.url(), ""
	if poll {
		t.Name = fmt.Sprintf("%d relays, long polls → %s", len(rs.addrs), direct.Name)
		t.Store += "?stream=false"
	}
	t.RelayPIDs = rs.pids()
	return t
}
