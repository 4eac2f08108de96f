/* SPDX-License-Identifier: Apache-2.0 */
/* bench_smb.c — `xpipe-bench smb`: the network pipe path from POSIX, as
 * an application meets it: xpipe's SMB2/3 client through an smbd to an
 * exported xpipe listener (a child process), beside Debian's impacket
 * doing the same operations through the same smbd to the same listener,
 * in the same run, alternating round by round. Rows: 64-byte round
 * trips (median latency) and a stream of 64 KiB writes (throughput to
 * the server's answer at its end); the ratio xpipe/impacket of the time
 * per operation (below 1: xpipe is faster), with the system calls and
 * context switches per operation of each client (Linux, as root).
 */
#include "xpipe.h"
#include "bench.h"
#include "tool.h"

#include <apr_env.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SMB_CHUNK 65536

/* What each client negotiated (the first connection's). */
static char smb_xpipe_said[96], smb_impacket_said[96];

typedef struct smb_opts_t {
    const char *host, *user, *domain, *password, *np_dir, *script;
    unsigned port;
    long rounds, rtt_count, stream_mib;
    int json;
} smb_opts_t;

/* One client's figures for one kind, per round. */
typedef struct smb_col_t {
    double us[32];       /* per operation: median latency, or time/write */
    bench_count_t c[32]; /* per operation */
    int counted, ok;
    char why[160];
} smb_col_t;

static const char bench_smb_usage[] =
    "usage: xpipe-bench smb --port PORT --user [DOMAIN\\]USER "
    "--password-env VAR\n"
    "                       [--host HOST] [--smb-dir DIR] [--rounds N] "
    "[--rtt-count N]\n"
    "                       [--stream-mib N] [--impacket SCRIPT] [--json]\n"
    "  xpipe's SMB client and impacket's, through the smbd at HOST:PORT\n"
    "  (127.0.0.1 by default) to an xpipe listener exported into Samba's\n"
    "  np directory DIR, alternating, 5 rounds: 64-byte round trips and\n"
    "  64 KiB writes; the ratio xpipe/impacket of the time per operation,\n"
    "  with system calls and context switches per operation (Linux, as\n"
    "  root). For a like-for-like comparison use a server that requires\n"
    "  signing (impacket signs only then; xpipe always does).\n";

/* ------------------------------------------------------------------ */
/* The server: an exported listener; each client says r (echo 64-byte
 * round trips) or s (a length, then that many bytes, answered "k"); it
 * closes when the client has (Samba loses what a pipe server writes
 * just before it closes). */

static int smb_serve(const char *name, const char *np_dir, long clients,
                     apr_pool_t *p)
{
    xpipe_listener_t *l;
    xpipe_attr_t *a;
    char *buf = malloc(SMB_CHUNK);
    long i;

    if (buf == NULL || xpipe_attr_create(&a, p)
        || xpipe_attr_smb_export_set(a, 1)
        || xpipe_attr_smb_np_dir_set(a, np_dir)
        || xpipe_listen(&l, name, a, p)) {
        fprintf(stderr, "xpipe-bench smb: listen %s: %s\n", name,
                xpipe_error_detail());
        free(buf);
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (i = 0; i < clients; i++) {
        xpipe_t *ch;
        apr_size_t n = 1;
        char op;

        if (xpipe_accept(&ch, l, 120 * APR_USEC_PER_SEC, p))
            break;
        xpipe_timeout_set(ch, 120 * APR_USEC_PER_SEC);
        if (xpipe_read_full(ch, &op, 1, &n) == APR_SUCCESS && op == 's') {
            unsigned char lb[8];
            apr_uint64_t left = 0;
            int k;

            if (xpipe_read_full(ch, lb, 8, NULL) == APR_SUCCESS) {
                for (k = 7; k >= 0; k--)
                    left = left << 8 | lb[k];
                while (left > 0) {
                    n = left < SMB_CHUNK ? (apr_size_t)left : SMB_CHUNK;
                    if (xpipe_read(ch, buf, &n) != APR_SUCCESS)
                        break;
                    left -= n;
                }
                if (left == 0)
                    xpipe_write_full(ch, "k", 1, NULL);
            }
        }
        /* r, and after s: echo until the client closes. */
        for (;;) {
            n = SMB_CHUNK;
            if (xpipe_read(ch, buf, &n) != APR_SUCCESS
                || xpipe_write_full(ch, buf, n, NULL) != APR_SUCCESS)
                break;
        }
        xpipe_close(ch);
    }
    free(buf);
    xpipe_listener_close(l);
    return 0;
}

/* ------------------------------------------------------------------ */
/* xpipe's client. */

static int smb_xpipe(const smb_opts_t *o, const char *pipe, int stream,
                     double *us, bench_count_t *per_op, int *counted, char *why,
                     size_t whylen, apr_pool_t *p)
{
    const char *name = apr_psprintf(p, "\\\\%s\\pipe\\%s", o->host, pipe);
    long count = stream ? (o->stream_mib << 20) / SMB_CHUNK : o->rtt_count;
    bench_counter_t *ctr;
    bench_count_t c0, c1;
    const char *cwhy = NULL;
    xpipe_attr_t *a;
    xpipe_t *ch;
    double *lat = malloc(sizeof(double) * (size_t)(count + 1));
    char *buf = calloc(1, SMB_CHUNK);
    apr_uint64_t t0;
    result_t res;
    long i;
    int rc = 1;

    /* Counted with the threads it starts (the connection's receiver). */
    ctr = bench_counter_open_threads(0, &cwhy);
    if (lat == NULL || buf == NULL || xpipe_attr_create(&a, p)
        || xpipe_attr_smb_port_set(a, o->port)
        || xpipe_attr_smb_credentials_set(a, o->user, o->domain, o->password)
        || xpipe_connect(&ch, name, a, 30 * APR_USEC_PER_SEC, p)) {
        snprintf(why, whylen, "connect %s: %s", name, xpipe_error_detail());
        goto out;
    }
    xpipe_timeout_set(ch, 120 * APR_USEC_PER_SEC);
    if (smb_xpipe_said[0] == '\0') {
        xpipe_peer_t peer = XPIPE_PEER_INIT;

        if (xpipe_peer_get(ch, &peer) == APR_SUCCESS)
            snprintf(smb_xpipe_said, sizeof(smb_xpipe_said), "SMB %s, %s%s",
                     peer.smb_dialect,
                     peer.smb_flags & XPIPE_SMB_SIGNED ? "signed" : "unsigned",
                     peer.smb_flags & XPIPE_SMB_ENCRYPTED ? ", encrypted" : "");
    }
    if (stream) {
        unsigned char hdr[9];
        apr_uint64_t len = (apr_uint64_t)count * SMB_CHUNK;
        int k;

        hdr[0] = 's';
        for (k = 0; k < 8; k++)
            hdr[1 + k] = (unsigned char)(len >> (8 * k));
        if (xpipe_write_full(ch, hdr, 9, NULL))
            goto fail;
    }
    else if (xpipe_write_full(ch, "r", 1, NULL))
        goto fail;
    *counted = ctr && bench_counter_read(ctr, &c0) == 0;
    t0 = bench_now_ns();
    for (i = 0; i < count; i++) {
        apr_uint64_t a0 = bench_now_ns();

        if (xpipe_write_full(ch, buf, stream ? SMB_CHUNK : 64, NULL)
            || (!stream && xpipe_read_full(ch, buf, 64, NULL)))
            goto fail;
        lat[i] = (double)(bench_now_ns() - a0) / 1000.0;
    }
    if (stream && xpipe_read_full(ch, buf, 1, NULL))
        goto fail;
    *us = (double)(bench_now_ns() - t0) / 1000.0 / (double)count;
    *counted = *counted && bench_counter_read(ctr, &c1) == 0;
    if (*counted) {
        per_op->syscalls = (c1.syscalls - c0.syscalls) / (double)count;
        per_op->switches = (c1.switches - c0.switches) / (double)count;
    }
    if (!stream) {
        bench_latencies(lat, count, count / 10, &res);
        *us = res.median_us;
    }
    rc = 0;
fail:
    if (rc)
        snprintf(why, whylen, "%s: %s", name, xpipe_error_detail());
    xpipe_close(ch);
out:
    bench_counter_close(ctr);
    free(lat);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* impacket's client: a Python process, counted from its "go". */

static int smb_impacket(const smb_opts_t *o, const char *pipe, int stream,
                        double *us, bench_count_t *per_op, int *counted,
                        char *why, size_t whylen, apr_pool_t *p)
{
    long count = stream ? (o->stream_mib << 20) : o->rtt_count;
    const char *argv[10];
    apr_procattr_t *pa;
    apr_proc_t proc;
    bench_counter_t *ctr = NULL;
    bench_count_t c0, c1;
    const char *cwhy = NULL;
    char line[256];
    apr_size_t n;
    apr_exit_why_e ew;
    int code, rc = 1;
    double total = 0, median = 0;

    /* Debian's python3-impacket is for the system's interpreter (a
     * python3 earlier on PATH may lack it). */
    const char *python =
        access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";

    argv[0] = python;
    argv[1] = o->script;
    argv[2] = o->host;
    argv[3] = apr_psprintf(p, "%u", o->port);
    argv[4] = o->user;
    argv[5] = o->domain ? o->domain : "";
    argv[6] = pipe;
    argv[7] = stream ? "s" : "r";
    argv[8] = apr_psprintf(p, "%ld", count);
    argv[9] = NULL;
    if (apr_env_set("XPIPE_BENCH_PW", o->password ? o->password : "", p)
        || apr_procattr_create(&pa, p)
        || apr_procattr_io_set(pa, APR_FULL_BLOCK, APR_FULL_BLOCK, APR_NO_PIPE)
        || apr_procattr_cmdtype_set(pa, APR_PROGRAM_PATH)
        || apr_proc_create(&proc, python, argv, NULL, pa, p)) {
        snprintf(why, whylen, "python3 did not start");
        apr_env_delete("XPIPE_BENCH_PW", p);
        return 1;
    }
    apr_env_delete("XPIPE_BENCH_PW", p);
    if (apr_file_gets(line, sizeof(line), proc.out) != APR_SUCCESS
        || strncmp(line, "ready", 5) != 0) {
        snprintf(why, whylen, "impacket did not open the pipe");
        goto wait;
    }
    if (smb_impacket_said[0] == '\0') {
        unsigned d = 0;
        int sg = 0;

        if (sscanf(line, "ready %x %d", &d, &sg) == 2)
            snprintf(smb_impacket_said, sizeof(smb_impacket_said),
                     "SMB %x.%x%s, %s", d >> 8, (d >> 4) & 0xF,
                     (d & 0xF) ? apr_psprintf(p, ".%x", d & 0xF) : "",
                     sg ? "signed"
                        : "unsigned (the server does not "
                          "require it)");
    }
    ctr = bench_counter_open_threads(proc.pid, &cwhy);
    *counted = ctr && bench_counter_read(ctr, &c0) == 0;
    n = 3;
    if (apr_file_write_full(proc.in, "go\n", n, NULL) != APR_SUCCESS
        || apr_file_gets(line, sizeof(line), proc.out) != APR_SUCCESS
        || sscanf(line, "done %lf %lf", &total, &median) != 2) {
        snprintf(why, whylen, "impacket failed mid-run");
        goto wait;
    }
    *counted = *counted && bench_counter_read(ctr, &c1) == 0;
    {
        double ops = stream ? (double)((count + SMB_CHUNK - 1) / SMB_CHUNK)
                            : (double)count;

        *us = stream ? total / 1000.0 / ops : median / 1000.0;
        if (*counted) {
            per_op->syscalls = (c1.syscalls - c0.syscalls) / ops;
            per_op->switches = (c1.switches - c0.switches) / ops;
        }
    }
    rc = 0;
wait:
    bench_counter_close(ctr);
    apr_file_close(proc.in);
    apr_proc_wait(&proc, &code, &ew, APR_WAIT);
    apr_file_close(proc.out);
    if (rc == 0 && (ew != APR_PROC_EXIT || code != 0)) {
        snprintf(why, whylen, "impacket exited with %d", code);
        rc = 1;
    }
    return rc;
}

/* ------------------------------------------------------------------ */

static double smb_median(const double *v, long n)
{
    double s[32];
    long i, j;

    for (i = 0; i < n; i++) {
        double x = v[i];
        for (j = i; j > 0 && s[j - 1] > x; j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
    return n ? s[n / 2] : 0;
}

static int smb_parse(int argc, const char *const *argv, smb_opts_t *o,
                     apr_pool_t *p)
{
    int i;

    for (i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            fputs(bench_smb_usage, stdout);
            return 0;
        }
        if (v == NULL)
            break;
        i++;
        if (strcmp(a, "--port") == 0)
            o->port = (unsigned)atoi(v);
        else if (strcmp(a, "--host") == 0)
            o->host = v;
        else if (strcmp(a, "--user") == 0) {
            const char *bs = strchr(v, '\\');
            o->user = bs ? bs + 1 : v;
            o->domain = bs ? apr_pstrndup(p, v, (apr_size_t)(bs - v)) : NULL;
        }
        else if (strcmp(a, "--password-env") == 0)
            o->password = getenv(v);
        else if (strcmp(a, "--smb-dir") == 0)
            o->np_dir = v;
        else if (strcmp(a, "--impacket") == 0)
            o->script = v;
        else if (strcmp(a, "--rounds") == 0)
            o->rounds = atol(v);
        else if (strcmp(a, "--rtt-count") == 0)
            o->rtt_count = atol(v);
        else if (strcmp(a, "--stream-mib") == 0)
            o->stream_mib = atol(v);
        else
            break;
    }
    if (i < argc || o->port == 0 || o->port > 65535 || o->user == NULL
        || o->password == NULL || o->rounds < 1 || o->rounds > 31
        || o->rtt_count < 10 || o->stream_mib < 1) {
        fputs(bench_smb_usage, stderr);
        return 2;
    }
    return -1;
}

/* The file called name in the directory of the program at self. */
static const char *smb_beside(const char *self, const char *name,
                              apr_pool_t *pool)
{
    const char *slash = strrchr(self, '/');

    return slash ? apr_pstrcat(
               pool, apr_pstrmemdup(pool, self, (apr_size_t)(slash - self) + 1),
               name, NULL)
                 : name;
}

int bench_smb(int argc, const char *const *argv, apr_pool_t *pool)
{
    smb_opts_t o = { "127.0.0.1", NULL, NULL, NULL, NULL, NULL,
                     0,           5,    2000, 16,   0 };
    const char *pipe = apr_psprintf(pool, "xpbench-smb-%ld", (long)getpid());
    static smb_col_t cols[2][2]; /* [kind][xpipe, impacket] */
    const char *sargv[8];
    apr_procattr_t *pa;
    apr_proc_t server;
    char line[64];
    int rc, k, c, code;
    long r;
    apr_exit_why_e ew;

    if (argc > 3 && strcmp(argv[3], "--serve") == 0 && argc > 6)
        return smb_serve(argv[4], strcmp(argv[5], "-") ? argv[5] : NULL,
                         atol(argv[6]), pool);
    /* impacket's script is beside this program (meson puts it there),
     * unless --impacket names another. */
    o.script = smb_beside(argv[0], "bench_smb_impacket.py", pool);
    rc = smb_parse(argc, argv, &o, pool);
    if (rc >= 0)
        return rc;
    /* The server: a child, so that each client is counted alone. */
    sargv[0] = argv[0];
    sargv[1] = "smb";
    sargv[2] = "--serve";
    sargv[3] = pipe;
    sargv[4] = o.np_dir ? o.np_dir : "-";
    sargv[5] = apr_psprintf(pool, "%ld", o.rounds * 4);
    sargv[6] = NULL;
    if (apr_procattr_create(&pa, pool)
        || apr_procattr_io_set(pa, APR_NO_PIPE, APR_FULL_BLOCK, APR_NO_PIPE)
        || apr_procattr_cmdtype_set(pa, APR_PROGRAM_ENV)
        || apr_proc_create(&server, argv[0], sargv, NULL, pa, pool)
        || apr_file_gets(line, sizeof(line), server.out) != APR_SUCCESS
        || strncmp(line, "listening", 9) != 0) {
        fprintf(stderr, "xpipe-bench smb: the exported server did not start\n");
        return 1;
    }
    for (r = 0; r < o.rounds; r++)
        for (k = 0; k < 2; k++)
            for (c = 0; c < 2; c++) {
                smb_col_t *col = &cols[k][c];
                int counted = 0;

                if ((c == 0 ? smb_xpipe : smb_impacket)(
                        &o, pipe, k, &col->us[r], &col->c[r], &counted,
                        col->why, sizeof(col->why), pool)
                    == 0) {
                    col->ok++;
                    col->counted += counted;
                }
            }
    apr_proc_kill(&server, SIGTERM);
    apr_proc_wait(&server, &code, &ew, APR_WAIT);
    {
        static const char *const kinds[2] = { "64 B round trip",
                                              "stream, 64 KiB writes" };
        static const char *const units[2] = { "us", "us/write" };

        if (!o.json)
            printf("xpipe-bench smb: \\\\%s\\pipe\\%s through smbd at "
                   "%s:%u, %ld rounds (medians)\n"
                   "  xpipe: %s; impacket: %s\n"
                   "%-22s %30s %30s %6s\n",
                   o.host, pipe, o.host, o.port, o.rounds,
                   smb_xpipe_said[0] ? smb_xpipe_said : "-",
                   smb_impacket_said[0] ? smb_impacket_said : "-", "",
                   "xpipe (C)", "impacket (Python)", "ratio");
        else
            printf("{\"rounds\": %ld, \"rows\": [", o.rounds);
        for (k = 0; k < 2; k++) {
            double m[2], sys[2], csw[2], v[32];
            int i;

            for (c = 0; c < 2; c++) {
                m[c] = cols[k][c].ok == o.rounds
                           ? smb_median(cols[k][c].us, o.rounds)
                           : -1;
                for (i = 0; i < o.rounds; i++)
                    v[i] = cols[k][c].c[i].syscalls;
                sys[c] = cols[k][c].counted == o.rounds
                             ? smb_median(v, o.rounds)
                             : -1;
                for (i = 0; i < o.rounds; i++)
                    v[i] = cols[k][c].c[i].switches;
                csw[c] = cols[k][c].counted == o.rounds
                             ? smb_median(v, o.rounds)
                             : -1;
            }
            if (o.json) {
                printf("%s{\"kind\": \"%s\", \"xpipe_us\": %.2f, "
                       "\"impacket_us\": %.2f, \"ratio\": %.3f, "
                       "\"xpipe_syscalls\": %.1f, \"impacket_syscalls\": "
                       "%.1f}",
                       k ? ", " : "", k ? "stream-64k" : "rtt", m[0], m[1],
                       m[0] > 0 && m[1] > 0 ? m[0] / m[1] : -1, sys[0], sys[1]);
                continue;
            }
            printf("%-22s", kinds[k]);
            for (c = 0; c < 2; c++) {
                char cell[64];

                if (m[c] < 0)
                    snprintf(cell, sizeof(cell), "failed");
                else if (sys[c] >= 0)
                    snprintf(cell, sizeof(cell), "%.1f %s (%.0f sys %.0f sw)",
                             m[c], units[k], sys[c], csw[c]);
                else
                    snprintf(cell, sizeof(cell), "%.1f %s", m[c], units[k]);
                printf(" %30s", cell);
            }
            /* Three significant digits: a ratio far below 1 (a slow
             * impacket on a loaded machine) must not print as 0.00. */
            if (m[0] > 0 && m[1] > 0)
                printf(" %6.3g\n", m[0] / m[1]);
            else
                printf(" %6s\n", "n/a");
        }
        if (o.json)
            printf("]}\n");
        for (k = 0; k < 2; k++)
            for (c = 0; c < 2; c++)
                if (cols[k][c].ok < o.rounds)
                    printf("  %s: %s\n", c ? "impacket" : "xpipe",
                           cols[k][c].why);
        if (!o.json && cols[0][0].counted < o.rounds)
            printf("  system calls: not counted (Linux, as root, with "
                   "tracefs)\n");
    }
    for (k = 0; k < 2; k++)
        for (c = 0; c < 2; c++)
            if (cols[k][c].ok < o.rounds)
                return 1;
    return 0;
}
