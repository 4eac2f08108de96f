/* SPDX-License-Identifier: Apache-2.0 */
/* bench_main.c — xpipe-bench, the benchmarks as a program of their own
 * (built, run by `./run bench`, not installed unless -Dinstall_bench):
 * xpipe against the raw OS calls in the same run (bench.c), many clients
 * at once (bench_many.c), network pipes (bench_smb.c). Its measurement
 * servers are this program again, started with `--serve`.
 */
#include "xpipe.h"
#include "tool.h"

#include <stdlib.h>

int main(int argc, const char *const *argv)
{
    const char **args = calloc((size_t)argc + 2, sizeof(*args));
    apr_pool_t *pool;
    int i, rc;

    if (args == NULL || xpipe_initialize() != APR_SUCCESS)
        return 1;
    tool_program = "xpipe-bench";
    apr_pool_create(&pool, NULL);
    /* bench.c reads its arguments after a command word, as the tool's
     * commands do: argv[1] is "bench". */
    args[0] = argv[0];
    args[1] = "bench";
    for (i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    rc = tool_bench(argc + 1, args, pool);
    apr_pool_destroy(pool);
    free(args);
    xpipe_terminate();
    return rc;
}
