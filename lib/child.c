/* SPDX-License-Identifier: Apache-2.0 */
/* child.c — channels made whole rather than by name: pairs, children
 * (xpipe_spawn and xpipe_child_channel's end of it) and adopted handles.
 * Public API. No OS code.
 */
#include "object.h"

#include <apr_env.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

/* Two connected channel objects, a's from pa and b's from pb (NULL:
 * private pools); on failure neither exists. */
static apr_status_t pair_create(xpipe_t **a, xpipe_t **b,
                                const xpipe_attr_t *attr, apr_pool_t *pa,
                                apr_pool_t *pb)
{
    xpipe_t *x = NULL, *y = NULL;
    apr_status_t rv = xpipe__channel_create(&x, &XPIPE__BACKEND, attr, pa);

    if (rv == APR_SUCCESS)
        rv = xpipe__channel_create(&y, &XPIPE__BACKEND, attr, pb);
    if (rv == APR_SUCCESS)
        rv = x->o.be->pair
                 ? x->o.be->pair(&x->impl, &y->impl, attr, x->o.sub, y->o.sub)
                 : xpipe__not_offered(x->o.be, "pairs");
    if (rv != APR_SUCCESS) {
        if (y)
            xpipe__obj_drop(&y->o);
        if (x)
            xpipe__obj_drop(&x->o);
        return rv;
    }
    *a = x;
    *b = y;
    return APR_SUCCESS;
}

apr_status_t xpipe_pair(xpipe_t **a, xpipe_t **b, const xpipe_attr_t *attr,
                        apr_pool_t *pool)
{
    xpipe_t *x, *y;
    apr_status_t rv;

    xpipe__fail_clear();
    if (a == NULL || b == NULL)
        return APR_EINVAL;
    *a = *b = NULL;
    rv = pair_create(&x, &y, attr ? attr : xpipe__attr_defaults(), pool, pool);
    if (rv != APR_SUCCESS)
        return rv;
    xpipe__channel_finish(a, x, rv);
    return xpipe__channel_finish(b, y, rv);
}

apr_status_t xpipe_adopt(xpipe_t **channel, xpipe_os_handle_t handle,
                         const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe_t *ch;
    apr_status_t rv;

    xpipe__fail_clear();
    if (channel == NULL)
        return APR_EINVAL;
    *channel = NULL;
    if (attr == NULL)
        attr = xpipe__attr_defaults();
    rv = xpipe__channel_create(&ch, &XPIPE__BACKEND, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = ch->o.be->adopt ? ch->o.be->adopt(&ch->impl, handle, attr, ch->o.sub)
                         : xpipe__not_offered(ch->o.be, "adoption");
    return xpipe__channel_finish(channel, ch, rv);
}

apr_status_t xpipe_listener_adopt(xpipe_listener_t **listener,
                                  xpipe_os_handle_t handle,
                                  const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe_listener_t *l;
    apr_status_t rv;

    xpipe__fail_clear();
    if (listener == NULL)
        return APR_EINVAL;
    *listener = NULL;
    rv = xpipe__listener_create(&l, &XPIPE__BACKEND, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = l->o.be->listener_adopt
             ? l->o.be->listener_adopt(&l->impl, &l->native, handle, l->attr,
                                       l->o.sub)
             : xpipe__not_offered(l->o.be, "listener adoption");
    return xpipe__listener_finish(listener, l, rv);
}

/* The words after the handle's value in XPIPE_CHILD_ENV. */
static const char *child_env_words(const xpipe_attr_t *attr)
{
    return attr->mode == XPIPE_MODE_MESSAGE
               ? (attr->handles ? " message handles" : " message")
               : (attr->handles ? " byte handles" : " byte");
}

apr_status_t xpipe_spawn(apr_proc_t *proc, xpipe_t **channel,
                         const char *program, const char *const *argv,
                         const char *const *env, const xpipe_attr_t *attr,
                         apr_pool_t *pool)
{
    xpipe_t *mine = NULL, *theirs = NULL;
    apr_status_t rv;

    xpipe__fail_clear();
    if (proc == NULL || channel == NULL || program == NULL || *program == 0
        || argv == NULL || argv[0] == NULL)
        return APR_EINVAL;
    *channel = NULL;
    memset(proc, 0, sizeof(*proc));
    if (attr == NULL)
        attr = xpipe__attr_defaults();
    /* The child's end in a private pool: it goes right after the start. */
    rv = pair_create(&mine, &theirs, attr, pool, NULL);
    if (rv != APR_SUCCESS)
        return rv;
    xpipe__channel_finish(channel, mine, rv);
    rv = mine->o.be->spawn
             ? mine->o.be->spawn(proc, mine->impl, theirs->impl, program, argv,
                                 env, child_env_words(attr), theirs->o.sub)
             : xpipe__not_offered(mine->o.be, "children");
    /* The child has its copy (or none): ours goes either way. */
    theirs->o.be->close(theirs->impl);
    xpipe__obj_drop(&theirs->o);
    if (rv != APR_SUCCESS) {
        apr_status_t keep = rv;
        xpipe_close(*channel);
        *channel = NULL;
        return keep;
    }
    return APR_SUCCESS;
}

/* The next space-separated word of text (first call) or of the rest
 * (*at, text NULL), NUL-terminated in place; NULL when none is left. */
static char *child_env_word(char **at, char *text)
{
    char *p = text ? text : *at, *w;

    while (*p == ' ')
        p++;
    if (*p == 0) {
        *at = p;
        return NULL;
    }
    w = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = 0;
    *at = p;
    return w;
}

apr_status_t xpipe_child_channel(xpipe_t **channel, const xpipe_attr_t *attr,
                                 apr_pool_t *pool)
{
    apr_pool_t *tmp;
    char *value = NULL, *mode, *more, *last = NULL;
    xpipe_os_handle_t h;
    xpipe_attr_t *a;
    apr_status_t rv;

    xpipe__fail_clear();
    if (channel == NULL)
        return APR_EINVAL;
    *channel = NULL;
    rv = apr_pool_create(&tmp, NULL);
    if (rv != APR_SUCCESS)
        return rv;
    if (apr_env_get(&value, XPIPE_CHILD_ENV, tmp) != APR_SUCCESS) {
        apr_pool_destroy(tmp);
        return xpipe__fail(XPIPE_ENOPIPE,
                           "no " XPIPE_CHILD_ENV " in the environment: "
                           "this process was not started by xpipe_spawn");
    }
    a = xpipe__attr_copy(attr ? attr : xpipe__attr_defaults(), tmp);
    value = child_env_word(&last, value);
    mode = child_env_word(&last, NULL);
    more = child_env_word(&last, NULL);
    if (child_env_word(&last, NULL))
        mode = NULL; /* a fourth word: not ours */
    rv = value && mode
                 && (strcmp(mode, "message") == 0 || strcmp(mode, "byte") == 0)
                 && (more == NULL || strcmp(more, "handles") == 0)
             ? (XPIPE__BACKEND.handle_parse
                    ? XPIPE__BACKEND.handle_parse(&h, value)
                    : xpipe__not_offered(&XPIPE__BACKEND, "children"))
             : XPIPE_EBADHANDLE;
    if (rv == APR_SUCCESS && attr
        && (strcmp(mode, "message") == 0) != (a->mode == XPIPE_MODE_MESSAGE))
        rv = xpipe__fail(XPIPE_EMODE, XPIPE_CHILD_ENV " names a %s channel",
                         mode);
    if (rv == APR_SUCCESS && attr && (more != NULL) != (attr->handles != 0))
        rv = xpipe__fail(XPIPE_EMODE,
                         "the parent's channel %s handles; attr says the "
                         "opposite",
                         more ? "carries" : "carries no");
    if (rv == APR_SUCCESS) {
        a->handles = more != NULL;
        if (attr == NULL)
            a->mode = strcmp(mode, "message") == 0 ? XPIPE_MODE_MESSAGE
                                                   : XPIPE_MODE_BYTE;
        rv = xpipe_adopt(channel, h, a, pool);
    }
    if (rv == APR_SUCCESS)
        apr_env_delete(XPIPE_CHILD_ENV, tmp);
    else if (rv == XPIPE_EBADHANDLE && !*xpipe_error_detail())
        xpipe__fail(rv, XPIPE_CHILD_ENV " names no channel");
    apr_pool_destroy(tmp);
    return rv;
}
