package logbench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/whycache/whycache/pkg/logstore/mysqlstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
)

// ServerKind names the kind of database server whose load the scale
// benchmark measures.
type ServerKind string

// The database servers the scale benchmark can observe.
const (
	ServerMySQL    ServerKind = "mysql"
	ServerPostgres ServerKind = "postgres"
)

// observer reads a database server's own counters over one connection of
// its own (excluded from the connection count), and the CPU time of the
// server's processes from /proc when the server runs on this machine.
type observer interface {
	sample(ctx context.Context) (serverSample, error)
	close()
}

func newObserver(ctx context.Context, kind ServerKind, dsn string) (observer, error) {
	switch kind {
	case ServerMySQL:
		return newMySQLObserver(ctx, dsn)
	case ServerPostgres:
		return newPostgresObserver(ctx, dsn)
	}
	return nil, fmt.Errorf("unknown database server kind %q (want mysql or postgres)", kind)
}

// mysqlObserver reads SHOW GLOBAL STATUS. MariaDB runs as one process, so
// its CPU time is that process's.
type mysqlObserver struct {
	db  *sql.DB
	pid int // 0 when not found on this machine
}

func newMySQLObserver(ctx context.Context, dsn string) (*mysqlObserver, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("observe %s: parse DSN: %w", mysqlstore.RedactDSN(dsn), err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", mysqlstore.RedactDSN(dsn), err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	var pidFile string
	if err := db.QueryRowContext(ctx, "SELECT @@pid_file").Scan(&pidFile); err != nil {
		db.Close()
		return nil, fmt.Errorf("observe %s: %w", mysqlstore.RedactDSN(dsn), err)
	}
	o := &mysqlObserver{db: db}
	if b, err := os.ReadFile(pidFile); err == nil {
		o.pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return o, nil
}

func (o *mysqlObserver) sample(ctx context.Context) (serverSample, error) {
	rows, err := o.db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', 'Questions')")
	if err != nil {
		return serverSample{}, fmt.Errorf("read MariaDB status: %w", err)
	}
	defer rows.Close()
	s := serverSample{At: time.Now(), CPU: -1}
	for rows.Next() {
		var name string
		var v uint64
		if err := rows.Scan(&name, &v); err != nil {
			return serverSample{}, fmt.Errorf("read MariaDB status: %w", err)
		}
		if strings.EqualFold(name, "Threads_connected") {
			s.Conns = int(v) - 1 // the observer's own
		} else {
			s.Queries = v
		}
	}
	if err := rows.Err(); err != nil {
		return serverSample{}, fmt.Errorf("read MariaDB status: %w", err)
	}
	if o.pid > 0 {
		if t, err := readProcStat(o.pid); err == nil {
			s.CPU = t.Self
		}
	}
	return s, nil
}

func (o *mysqlObserver) close() { o.db.Close() }

// postgresObserver reads pg_stat_activity and pg_stat_database. PostgreSQL
// runs a process per connection under the postmaster: its CPU time is the
// postmaster's, its live children's, and that of the children that have
// exited (which the postmaster has waited for).
type postgresObserver struct {
	conn       *pgx.Conn
	postmaster int // 0 when not found on this machine
}

func newPostgresObserver(ctx context.Context, dsn string) (*postgresObserver, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", pgstore.RedactDSN(dsn), err)
	}
	var backend int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("observe %s: %w", pgstore.RedactDSN(dsn), err)
	}
	o := &postgresObserver{conn: conn}
	if t, err := readProcStat(backend); err == nil {
		o.postmaster = t.PPID
	}
	return o, nil
}

func (o *postgresObserver) sample(ctx context.Context) (serverSample, error) {
	s := serverSample{At: time.Now(), CPU: -1}
	var q int64
	err := o.conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()),
		(SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database)::bigint`).Scan(&s.Conns, &q)
	if err != nil {
		return serverSample{}, fmt.Errorf("read PostgreSQL statistics: %w", err)
	}
	s.Queries = uint64(q)
	if o.postmaster > 0 {
		if cpu, err := treeCPU(o.postmaster); err == nil {
			s.CPU = cpu
		}
	}
	return s, nil
}

func (o *postgresObserver) close() { o.conn.Close(context.Background()) }

func readProcStat(pid int) (procTimes, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procTimes{}, err
	}
	return parseProcStat(b)
}

// treeCPU returns the CPU time of process root, of its live children, and
// of its exited children. A child that exits between the reads is counted
// once or not at all; over a window of seconds with long-lived connections
// that is noise.
func treeCPU(root int) (time.Duration, error) {
	r, err := readProcStat(root)
	if err != nil {
		return 0, err
	}
	total := r.Self + r.Children
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		t, err := readProcStat(pid)
		if err != nil || t.PPID != root {
			continue // gone, or not a child
		}
		total += t.Self
	}
	return total, nil
}

// selfCPU returns this process's CPU time, or -1.
func selfCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	t, err := parseProcStat(b)
	if err != nil {
		return -1
	}
	return t.Self
}

// gcCycles returns the number of garbage collections this process has
// completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// pidsCPU returns the CPU time of the processes pids, or -1 when one cannot
// be read.
func pidsCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		t, err := readProcStat(pid)
		if err != nil {
			return -1
		}
		total += t.Self
	}
	return total
}

// loadAverage returns the 1-minute load average of this machine, as
// /proc/loadavg says it, or "" when it cannot be read.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// memAvailable returns MemAvailable of /proc/meminfo in bytes, or -1.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return -1
}
