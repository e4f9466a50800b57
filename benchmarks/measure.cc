// Runs one program and measures it, for the A/B harness (ab.py):
//
//   measure RESULT_FILE TIMEOUT_SECONDS [NAME=VALUE...] -- PROGRAM [ARGS...]
//
// Forks, sets the NAME=VALUE variables (LD_PRELOAD, LD_DEBUG, FREEBUMP_STATS: in the program
// only, never in this launcher), runs PROGRAM in a new session (so a time-out can kill its whole process group),
// waits with wait4() and writes one line to RESULT_FILE:
//
//   status=<exited|signaled|timeout> code=<exit code or signal> wall_ns=<n> user_us=<n>
//   sys_us=<n> maxrss_kib=<n>
//
// Why a launcher of our own rather than Python's subprocess: the kernel carries a process's
// peak RSS across fork and exec, so a program started straight from the Python harness would
// report at least the harness's own ~25 MiB. This launcher is a few hundred KiB, as
// /usr/bin/time is, and the figures (children included, as wait4 reports them) belong to the
// program. It allocates nothing after the fork and uses only async-signal-safe calls there.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace {

volatile sig_atomic_t timed_out = 0;
pid_t child = 0;

void on_alarm(int) {
  timed_out = 1;
  kill(-child, SIGKILL);
}

long long now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

long long micros(const timeval& t) {
  return static_cast<long long>(t.tv_sec) * 1000000LL + t.tv_usec;
}

}  // namespace

int main(int argc, char** argv) {
  int program = 3;
  while (program < argc && argv[program][0] != '-') ++program;
  if (program + 1 >= argc || argv[program][1] != '-' || argv[program][2] != 0) {
    fprintf(stderr, "usage: %s RESULT_FILE TIMEOUT_SECONDS [NAME=VALUE...] -- PROGRAM [ARGS...]\n",
            argv[0]);
    return 2;
  }
  FILE* result = fopen(argv[1], "w");
  if (result == nullptr) {
    perror("measure: result file");
    return 2;
  }
  const unsigned timeout = static_cast<unsigned>(atoi(argv[2]));
  const long long start = now_ns();
  child = fork();
  if (child < 0) {
    perror("measure: fork");
    return 2;
  }
  if (child == 0) {
    setsid();
    for (int i = 3; i < program; ++i) putenv(argv[i]);
    execvp(argv[program + 1], argv + program + 1);
    const char message[] = "measure: cannot execute the program\n";
    (void)!write(2, message, sizeof message - 1);
    _exit(127);
  }
  struct sigaction action = {};
  action.sa_handler = on_alarm;
  sigaction(SIGALRM, &action, nullptr);
  if (timeout > 0) alarm(timeout);
  int status = 0;
  rusage usage = {};
  while (wait4(child, &status, 0, &usage) < 0) {
    if (errno != EINTR) {
      perror("measure: wait4");
      return 2;
    }
  }
  const long long wall = now_ns() - start;
  alarm(0);
  const char* kind = timed_out ? "timeout" : WIFSIGNALED(status) ? "signaled" : "exited";
  const int code = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
  fprintf(result, "status=%s code=%d wall_ns=%lld user_us=%lld sys_us=%lld maxrss_kib=%ld\n", kind,
          code, wall, micros(usage.ru_utime), micros(usage.ru_stime), usage.ru_maxrss);
  return fclose(result) == 0 ? 0 : 2;
}
