/*
 * bench/redis.c - a Redis server under redis-benchmark: pipelined list
 * pushes and ranges (LPUSH, and LRANGE of the first 100 elements).
 *
 * The allocator under test goes into the server only: this program starts
 * Debian's redis-server (found on PATH) with the LD_PRELOAD and HAKMEM_*
 * variables it was itself given, and redis-benchmark without them.  With
 * no LD_PRELOAD, the server gets the file this program's own malloc comes
 * from (the C library) preloaded: Debian links redis-server against
 * libjemalloc, which would otherwise serve it.
 *
 * The server listens on a UNIX socket in a temporary directory, with no
 * persistence (--save "" --appendonly no).  This program polls it with
 * PING until it answers, runs
 *     redis-benchmark -s SOCKET -t lpush,lrange_100 -n REQUESTS -P PIPELINE
 *                     -c CLIENTS --csv
 * checks with LLEN that the server holds every element pushed, reads the
 * server's peak RSS (VmHWM) and then stops it with SHUTDOWN NOSAVE.
 *
 * Proof, of the server: the dynamic linker's report (LD_DEBUG=bindings)
 * names the file the server's own `malloc` binds to (malloc_from), which
 * must be mapped in /proc/<pid>/maps; `mapped` lists the allocator
 * libraries mapped there (libjemalloc always is: redis-server needs it);
 * HAKMEM's statistics at exit (HAKMEM_STATS_FILE) name its backend.
 *
 * ops are the requests of redis-benchmark's three tests (LPUSH, the LPUSH
 * that fills the list for LRANGE, LRANGE_100: 3 x REQUESTS), seconds the
 * sum of each test's REQUESTS / requests per second, as it reports them.
 *
 * Usage: redis [requests [pipeline [clients]]]   (150000 16 50)
 * Exit status 77 with a SKIP line when redis-server or redis-benchmark is
 * not installed.
 */
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define READY_TIMEOUT_S 30.0

static char dir[32];      /* the temporary directory */
static pid_t server = -1; /* the running server, or -1 */

/* Path of `name` found on PATH, in buf, or NULL. */
static const char *on_path(const char *name, char *buf, size_t len) {
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        if (n > 0 && (size_t)snprintf(buf, len, "%.*s/%s", (int)n, path, name) < len &&
            access(buf, X_OK) == 0)
            return buf;
        path += n;
        if (*path == ':')
            path++;
    }
    return NULL;
}

/* At exit (also through bench_die): kill a server still running and remove
 * the temporary directory with what is left in it. */
static void cleanup(void) {
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = -1;
    }
    if (dir[0] == '\0')
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: warning: cannot remove %s\n", dir);
}

/* The environment without the variables matching any prefix of drop
 * (NULL-terminated), with room for `more` entries to be added. */
static char **env_without(const char *const *drop, size_t more) {
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + more + 1, sizeof *env);
    if (env == NULL)
        bench_oom((n + more + 1) * sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = 1;
        for (const char *const *d = drop; *d != NULL && keep; d++)
            keep = strncmp(environ[i], *d, strlen(*d)) != 0;
        if (keep)
            env[k++] = environ[i];
    }
    return env;
}

/* Append "NAME=value" to env (made by env_without). */
static void env_add(char **env, const char *name, const char *value) {
    size_t k = 0;
    while (env[k] != NULL)
        k++;
    size_t len = strlen(name) + strlen(value) + 2;
    env[k] = malloc(len);
    if (env[k] == NULL)
        bench_oom(len);
    snprintf(env[k], len, "%s=%s", name, value);
}

/* Start path with argv and env; its stdout goes to out_fd (or out_path,
 * created, when out_fd < 0), its stderr to err_path.  The child dies with
 * this program. */
static pid_t spawn(const char *path, char *const argv[], char *const env[], int out_fd,
                   const char *out_path, const char *err_path) {
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork failed: %s", strerror(errno));
    if (pid > 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int in = open("/dev/null", O_RDONLY);
    int out = out_fd >= 0 ? out_fd : open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        _exit(126);
    execve(path, argv, env);
    _exit(127);
}

/* Send one inline command to the server at sock and read the first line of
 * the reply into reply.  Returns 0, or -1 (errno set) when there is no
 * server to talk to (yet) or the reply did not come. */
static int command(const char *sock, const char *cmd, char *reply, size_t len) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        bench_die("socket failed: %s", strerror(errno));
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = 0;
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd)) {
        while (n + 1 < len) {
            ssize_t r = read(fd, reply + n, len - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            if (memchr(reply, '\n', n) != NULL) {
                rc = 0;
                break;
            }
        }
    }
    int saved = errno;
    close(fd);
    reply[n] = '\0';
    reply[strcspn(reply, "\r\n")] = '\0';
    errno = saved;
    return rc;
}

/* Die, with the tail of the server's log, because of what went wrong. */
static void server_failed(const char *what) {
    char cmd[256];
    fprintf(stderr, "bench: redis: %s; the server's log ends:\n", what);
    fflush(stderr);
    snprintf(cmd, sizeof cmd, "tail -n 5 '%s/redis.log' '%s/redis.out' >&2", dir, dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: (no log)\n");
    bench_die("redis: %s", what);
}

/* Wait until the server answers PING (or die when it exits first or does
 * not answer within READY_TIMEOUT_S). */
static void wait_ready(const char *sock) {
    double deadline = bench_now() + READY_TIMEOUT_S;
    char reply[64];
    for (;;) {
        if (command(sock, "PING\r\n", reply, sizeof reply) == 0 && strcmp(reply, "+PONG") == 0)
            return;
        int status;
        if (waitpid(server, &status, WNOHANG) == server) {
            server = -1;
            server_failed("the server exited before it answered PING");
        }
        if (bench_now() > deadline)
            server_failed("the server did not answer PING in 30 s");
        struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The file the server's own `malloc` was bound to, from the dynamic
 * linker's bindings report ld.<pid> (argv0 names the program there). */
static void bound_malloc(const char *argv0, char *out, size_t len) {
    char path[128], prefix[4200];
    snprintf(path, sizeof path, "%s/ld.%d", dir, (int)server);
    snprintf(prefix, sizeof prefix, "binding file %s [0] to ", argv0);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        bench_die("redis: no dynamic linker report %s: %s", path, strerror(errno));
    char line[8192];
    out[0] = '\0';
    while (out[0] == '\0' && fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, prefix);
        if (p == NULL || strstr(line, ": normal symbol `malloc'") == NULL)
            continue;
        p += strlen(prefix);
        size_t n = strcspn(p, " ");
        if (n < len)
            snprintf(out, len, "%.*s", (int)n, p);
    }
    fclose(f);
    if (out[0] == '\0')
        bench_die("redis: %s does not say where the server's malloc binds", path);
}

/* The allocator libraries mapped in the server (comma-separated, in the
 * order of /proc/<pid>/maps), into out; dies unless `must` is mapped. */
static void mapped_allocators(const char *must, char *out, size_t len) {
    static const char *const libs[] = {"libhakmem",   "libmimalloc", "libjemalloc",
                                       "libtcmalloc", "libc.so",     NULL};
    char path[64], line[4400];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)server);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        bench_die("redis: cannot read %s: %s", path, strerror(errno));
    char *real_must = realpath(must, NULL);
    if (real_must == NULL)
        bench_die("redis: the server's malloc binds to %s: %s", must, strerror(errno));
    int must_seen = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        char *file = strchr(line, '/');
        if (file == NULL)
            continue;
        file[strcspn(file, "\n")] = '\0';
        char *real = realpath(file, NULL);
        must_seen |= real != NULL && strcmp(real, real_must) == 0;
        free(real);
        const char *base = strrchr(file, '/') + 1;
        for (const char *const *l = libs; *l != NULL; l++) {
            if (strncmp(base, *l, strlen(*l)) != 0 || strstr(out, base) != NULL)
                continue;
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s%s", used ? "," : "", base);
        }
    }
    fclose(f);
    free(real_must);
    if (!must_seen)
        bench_die("redis: the server's malloc binds to %s, which is not mapped", must);
}

/* The backend HAKMEM's statistics at exit name, or "-" without them. */
static void stats_backend(char *out, size_t len) {
    char path[128], line[512];
    snprintf(path, sizeof path, "%s/hakmem-stats", dir);
    snprintf(out, len, "-");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        char *p = strstr(line, ", backend ");
        if (strncmp(line, "hakmem: statistics of pid ", 26) != 0 || p == NULL)
            continue;
        p += strlen(", backend ");
        p[strcspn(p, " \n")] = '\0';
        snprintf(out, len, "%s", p);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    unsigned long long requests = bench_arg_u64(argc, argv, 1, 150000);
    unsigned long long pipeline = bench_arg_u64(argc, argv, 2, 16);
    unsigned long long clients = bench_arg_u64(argc, argv, 3, 50);
    if (requests == 0 || pipeline == 0 || clients == 0)
        bench_die("requests, pipeline and clients must be positive");

    char server_path[4096], client_path[4096];
    if (on_path("redis-server", server_path, sizeof server_path) == NULL)
        bench_skip("redis-server not found on PATH (Debian: apt-get "
                   "install redis-server redis-tools)");
    if (on_path("redis-benchmark", client_path, sizeof client_path) == NULL)
        bench_skip("redis-benchmark not found on PATH (Debian: "
                   "apt-get install redis-tools)");

    snprintf(dir, sizeof dir, "/tmp/hakmem-redis.XXXXXX");
    if (mkdtemp(dir) == NULL)
        bench_die("mkdtemp failed: %s", strerror(errno));
    atexit(cleanup);
    char sock[64], path[128], num[3][32];
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);

    /* The server: the allocator this program was given, the linker's
     * bindings report and HAKMEM's statistics at exit. */
    const char *preload = getenv("LD_PRELOAD");
    if (preload == NULL || preload[0] == '\0')
        preload = bench_malloc_from();
    static const char *const server_drop[] = {"LD_PRELOAD=", "LD_DEBUG", "HAKMEM_STATS", NULL};
    char **senv = env_without(server_drop, 5);
    env_add(senv, "LD_PRELOAD", preload);
    env_add(senv, "LD_DEBUG", "bindings");
    snprintf(path, sizeof path, "%s/ld", dir);
    env_add(senv, "LD_DEBUG_OUTPUT", path);
    env_add(senv, "HAKMEM_STATS", "1");
    snprintf(path, sizeof path, "%s/hakmem-stats", dir);
    env_add(senv, "HAKMEM_STATS_FILE", path);
    char logfile[128];
    snprintf(logfile, sizeof logfile, "%s/redis.log", dir);
    char *sargv[] = {server_path, "--port",    "0",     "--unixsocket", sock, "--unixsocketperm",
                     "700",       "--save",    "",      "--appendonly", "no", "--dir",
                     dir,         "--logfile", logfile, "--daemonize",  "no", NULL};
    char outfile[128];
    snprintf(outfile, sizeof outfile, "%s/redis.out", dir);
    server = spawn(server_path, sargv, senv, -1, outfile, outfile);
    wait_ready(sock);

    char malloc_from[4096], mapped[512];
    bound_malloc(server_path, malloc_from, sizeof malloc_from);
    mapped_allocators(malloc_from, mapped, sizeof mapped);

    /* The client: no allocator of the test, no HAKMEM settings. */
    static const char *const client_drop[] = {"LD_PRELOAD=", "LD_DEBUG", "HAKMEM_", NULL};
    char **cenv = env_without(client_drop, 0);
    snprintf(num[0], sizeof num[0], "%llu", requests);
    snprintf(num[1], sizeof num[1], "%llu", pipeline);
    snprintf(num[2], sizeof num[2], "%llu", clients);
    char *cargv[] = {client_path, "-s",    sock, "-t",   "lpush,lrange_100",
                     "-n",        num[0],  "-P", num[1], "-c",
                     num[2],      "--csv", NULL};
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        bench_die("pipe failed: %s", strerror(errno));
    char client_err[128];
    snprintf(client_err, sizeof client_err, "%s/benchmark.err", dir);
    pid_t client = spawn(client_path, cargv, cenv, pipefd[1], NULL, client_err);
    close(pipefd[1]);
    FILE *csv = fdopen(pipefd[0], "r");
    if (csv == NULL)
        bench_die("fdopen failed: %s", strerror(errno));
    char line[512], rps_list[128] = "";
    double seconds = 0.0;
    unsigned tests = 0;
    while (fgets(line, sizeof line, csv) != NULL) {
        /* "TEST","RPS",... after the header line "test","rps",... */
        char *rps = strstr(line, "\",\"");
        if (line[0] != '"' || strncmp(line, "\"test\"", 6) == 0 || rps == NULL)
            continue;
        double r = strtod(rps + 3, NULL);
        if (r <= 0.0)
            bench_die("redis: redis-benchmark reported no rate: %s", line);
        seconds += (double)requests / r;
        size_t used = strlen(rps_list);
        snprintf(rps_list + used, sizeof rps_list - used, "%s%.0f", tests ? "," : "", r);
        tests++;
    }
    fclose(csv);
    int status;
    if (waitpid(client, &status, 0) != client || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        tests != 3) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "tail -n 5 '%s' >&2", client_err);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: (no redis-benchmark output)\n");
        server_failed("redis-benchmark failed or did not report its three tests");
    }

    /* Every element pushed is in the list: LPUSH and the fill push
     * `requests` each. */
    char reply[64], want[40];
    snprintf(want, sizeof want, ":%llu", 2 * requests);
    if (command(sock, "LLEN mylist\r\n", reply, sizeof reply) != 0 || strcmp(reply, want) != 0)
        server_failed("LLEN mylist did not answer the elements pushed");

    snprintf(path, sizeof path, "/proc/%d/status", (int)server);
    long peak_kb = bench_vmhwm_kb(path);
    if (peak_kb < 0)
        bench_die("redis: no VmHWM in %s", path);

    /* SHUTDOWN NOSAVE closes the connection without a reply. */
    command(sock, "SHUTDOWN NOSAVE\r\n", reply, sizeof reply);
    if (waitpid(server, &status, 0) != server)
        bench_die("waitpid failed: %s", strerror(errno));
    server = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        server_failed("the server did not exit cleanly after SHUTDOWN NOSAVE");
    char backend[64];
    stats_backend(backend, sizeof backend);

    char extra[768];
    snprintf(extra, sizeof extra, " requests=%llu pipeline=%llu clients=%llu rps=%s mapped=%s",
             requests, pipeline, clients, rps_list, mapped);
    bench_report_for("redis", -1, 3 * requests, seconds, peak_kb, extra, malloc_from, backend);
    return 0;
}
