/* SPDX-License-Identifier: Apache-2.0 */
/* poll.c — poll sets (public API): the members, the results, the
 * wake-up latch and membership rules; the backend watches the handles
 * and waits (backend.h, pset_*). No OS code here.
 *
 * Locks: the set's lock, then an object's guard lock (o->pset and o->pm
 * change only with both held). A thread closing an object reads o->pset
 * under the object's lock and counts itself in the set's `closers`
 * before it takes the set's lock, so destroy waits for it.
 */
#include "object.h"

#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <stdlib.h>
#include <string.h>

struct xpipe_pollset_t {
    apr_thread_mutex_t *lock;
    xpipe__pset_t *impl;
    const xpipe__backend_t *be;
    apr_pool_t *pool, *sub; /* as objects' (channel.c) */
    int own_pool;
    apr_uint32_t size, count;
    xpipe__pm_t live;     /* list head: the members */
    xpipe__pm_t *dead;    /* removed, freed by the next poll */
    xpipe__pm_t *recheck; /* to ask pm_ready again next poll */
    xpipe_pollfd_t *res;  /* the last poll's results */
    apr_int32_t nres;
    apr_uint32_t round; /* polls so far */
    int polling, woken, destroyed;
    xpipe__a32_t closers;
};

static obj_t *pm_obj(const xpipe_pollfd_t *d)
{
    return d->channel ? &d->channel->o : &d->listener->o;
}

static void recheck_push(xpipe_pollset_t *ps, xpipe__pm_t *m)
{
    if (!m->on_recheck) {
        m->on_recheck = 1;
        m->recheck = ps->recheck;
        ps->recheck = m;
    }
}

/* Set o's membership (NULL: none), with the set's lock held. */
static void pm_link(obj_t *o, xpipe_pollset_t *ps, xpipe__pm_t *m)
{
    apr_thread_mutex_lock(o->g.lock);
    o->pset = ps;
    o->pm = m;
    apr_thread_mutex_unlock(o->g.lock);
}

/* With the set's lock: m leaves the set; freed by the next poll (a wait
 * in flight may still hand it to found). */
static void pm_remove(xpipe_pollset_t *ps, xpipe__pm_t *m)
{
    pm_link(m->obj, NULL, NULL);
    ps->be->pset_remove(ps->impl, m);
    m->prev->next = m->next;
    m->next->prev = m->prev;
    ps->count--;
    m->dead = 1;
    m->next = ps->dead;
    ps->dead = m;
}

static void pm_free_dead(xpipe_pollset_t *ps)
{
    xpipe__pm_t *m;

    while ((m = ps->dead) != NULL) {
        ps->dead = m->next;
        free(m);
    }
}

static apr_status_t pset_cleanup(void *data);

apr_status_t xpipe_pollset_create(xpipe_pollset_t **pollset, apr_uint32_t size,
                                  apr_pool_t *pool)
{
    xpipe_pollset_t *ps;
    apr_pool_t *owner = pool, *sub;
    apr_status_t rv;

    xpipe__fail_clear();
    if (pollset == NULL || size < 1 || size > XPIPE_POLLSET_LIMIT)
        return APR_EINVAL;
    *pollset = NULL;
    rv = pool ? apr_pool_create(&sub, pool) : apr_pool_create(&owner, NULL);
    if (rv != APR_SUCCESS)
        return rv;
    if (!pool)
        sub = owner;
    ps = apr_pcalloc(owner, sizeof(*ps));
    ps->pool = owner;
    ps->sub = sub;
    ps->own_pool = pool == NULL;
    ps->size = size;
    ps->be = &XPIPE__BACKEND;
    ps->live.next = ps->live.prev = &ps->live;
    xpipe__a32_set(&ps->closers, 0);
    ps->res = apr_pcalloc(sub, sizeof(*ps->res) * size);
    rv = apr_thread_mutex_create(&ps->lock, APR_THREAD_MUTEX_DEFAULT, owner);
    if (rv == APR_SUCCESS)
        rv = ps->be->pset_create ? ps->be->pset_create(&ps->impl, size, sub)
                                 : xpipe__not_offered(ps->be, "poll sets");
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(ps->own_pool ? owner : sub);
        return rv;
    }
    apr_pool_cleanup_register(sub, ps, pset_cleanup, apr_pool_cleanup_null);
    *pollset = ps;
    return APR_SUCCESS;
}

/* Is d a valid description of what to watch? */
static int pm_valid(const xpipe_pollfd_t *d)
{
    if (d == NULL || (d->channel == NULL) == (d->listener == NULL))
        return 0;
    if (d->channel)
        return d->reqevents != 0
               && (d->reqevents & ~(XPIPE_POLLIN | XPIPE_POLLOUT)) == 0;
    return d->reqevents == XPIPE_POLLACCEPT;
}

apr_status_t xpipe_pollset_add(xpipe_pollset_t *ps, const xpipe_pollfd_t *desc)
{
    xpipe__pm_t *m;
    obj_t *o;
    apr_status_t rv = APR_SUCCESS;

    xpipe__fail_clear();
    if (ps == NULL || !pm_valid(desc))
        return APR_EINVAL;
    o = pm_obj(desc);
    if ((m = calloc(1, sizeof(*m))) == NULL)
        return APR_ENOMEM;
    m->desc = *desc;
    m->desc.rtnevents = 0;
    m->obj = o;
    apr_thread_mutex_lock(ps->lock);
    if (ps->destroyed)
        rv = XPIPE_ECLOSED;
    if (rv == APR_SUCCESS) {
        apr_thread_mutex_lock(o->g.lock);
        if (xpipe__guard_closed(&o->g))
            rv = XPIPE_ECLOSED;
        else if (o->pset == ps)
            rv = APR_EEXIST;
        else if (o->pset)
            rv = xpipe__fail(APR_EBUSY, "the object is in another poll set");
        else if (o->be != ps->be)
            rv = xpipe__fail(APR_ENOTIMPL,
                             "a %s channel cannot be polled with %s ones",
                             o->be->name, ps->be->name);
        else if (ps->count >= ps->size)
            rv = xpipe__fail(APR_ENOSPC, "the poll set holds its %lu objects",
                             (unsigned long)ps->size);
        else {
            o->pset = ps;
            o->pm = m;
        }
        apr_thread_mutex_unlock(o->g.lock);
    }
    if (rv == APR_SUCCESS) {
        if (desc->channel)
            m->chan = desc->channel->impl;
        else
            m->lsn = desc->listener->impl;
        rv = ps->be->pset_add(ps->impl, m);
        if (rv != APR_SUCCESS)
            pm_link(o, NULL, NULL);
    }
    if (rv == APR_SUCCESS) {
        m->next = ps->live.next;
        m->prev = &ps->live;
        m->next->prev = m;
        ps->live.next = m;
        ps->count++;
        if (!m->plain)
            recheck_push(ps, m); /* what it holds already counts */
    }
    apr_thread_mutex_unlock(ps->lock);
    if (rv != APR_SUCCESS)
        free(m);
    return rv;
}

apr_status_t xpipe_pollset_remove(xpipe_pollset_t *ps,
                                  const xpipe_pollfd_t *desc)
{
    apr_status_t rv = APR_NOTFOUND;
    obj_t *o;

    xpipe__fail_clear();
    if (ps == NULL || desc == NULL
        || (desc->channel == NULL) == (desc->listener == NULL))
        return APR_EINVAL;
    o = pm_obj(desc);
    apr_thread_mutex_lock(ps->lock);
    if (ps->destroyed)
        rv = XPIPE_ECLOSED;
    else {
        xpipe__pm_t *m = NULL;
        apr_thread_mutex_lock(o->g.lock);
        if (o->pset == ps)
            m = o->pm;
        apr_thread_mutex_unlock(o->g.lock);
        if (m) {
            pm_remove(ps, m);
            rv = APR_SUCCESS;
        }
    }
    apr_thread_mutex_unlock(ps->lock);
    return rv;
}

void xpipe__poll_forget(obj_t *o)
{
    xpipe_pollset_t *ps;

    apr_thread_mutex_lock(o->g.lock);
    ps = o->pset;
    if (ps)
        xpipe__a32_add(&ps->closers, 1);
    apr_thread_mutex_unlock(o->g.lock);
    if (ps == NULL)
        return;
    apr_thread_mutex_lock(ps->lock);
    if (!ps->destroyed) {
        xpipe__pm_t *m = NULL;
        apr_thread_mutex_lock(o->g.lock);
        if (o->pset == ps)
            m = o->pm;
        apr_thread_mutex_unlock(o->g.lock);
        if (m)
            pm_remove(ps, m);
    }
    apr_thread_mutex_unlock(ps->lock);
    xpipe__a32_add(&ps->closers, (apr_uint32_t)-1);
}

/* A member is ready for events: one result per member and poll. */
static void pm_found(void *baton, xpipe__pm_t *m, int os)
{
    xpipe_pollset_t *ps = baton;
    int ev;

    if (m->dead || (m->plain && os == 0))
        return;
    ev = (m->plain ? os : ps->be->pm_ready(m, os)) & m->desc.reqevents;
    if (ev == 0)
        return;
    if (m->round == ps->round) {
        ps->res[m->res].rtnevents |= (apr_int16_t)ev;
        return;
    }
    m->round = ps->round;
    m->res = ps->nres;
    ps->res[ps->nres] = m->desc;
    ps->res[ps->nres++].rtnevents = (apr_int16_t)ev;
    if (!m->plain)
        recheck_push(ps, m);
}

apr_status_t xpipe_pollset_poll(xpipe_pollset_t *ps,
                                apr_interval_time_t timeout, apr_int32_t *num,
                                const xpipe_pollfd_t **descriptors)
{
    apr_time_t deadline = xpipe__deadline(timeout);
    xpipe__pm_t *m, *next;
    apr_status_t rv = APR_SUCCESS, waited;

    xpipe__fail_clear();
    if (num)
        *num = 0;
    if (descriptors)
        *descriptors = NULL;
    if (ps == NULL || num == NULL || descriptors == NULL || timeout < -1)
        return APR_EINVAL;
    apr_thread_mutex_lock(ps->lock);
    if (ps->destroyed || ps->polling) {
        rv = ps->destroyed ? XPIPE_ECLOSED : APR_EBUSY;
        apr_thread_mutex_unlock(ps->lock);
        return rv;
    }
    ps->polling = 1;
    ps->round++;
    ps->nres = 0;
    for (;;) {
        /* Ask again about those reported last time and those added since:
         * state xpipe keeps (a message held, a frame read ahead) makes no
         * OS event, and a backend may start watching here. */
        m = ps->recheck;
        ps->recheck = NULL;
        for (; m; m = next) {
            next = m->recheck;
            m->on_recheck = 0;
            pm_found(ps, m, 0); /* skips the dead */
        }
        /* No wait is in flight, and none of the dead is on a list now. */
        pm_free_dead(ps);
        if (ps->woken && ps->nres == 0) {
            ps->woken = 0;
            rv = XPIPE_ECANCELED;
            break;
        }
        apr_thread_mutex_unlock(ps->lock);
        waited = ps->be->pset_wait(ps->impl, ps->nres ? 0 : deadline);
        apr_thread_mutex_lock(ps->lock);
        if (waited == APR_SUCCESS)
            ps->be->pset_collect(ps->impl, pm_found, ps);
        if (ps->nres > 0)
            break;
        if (waited != APR_SUCCESS && waited != APR_TIMEUP
            && waited != XPIPE_ECANCELED) {
            rv = waited;
            break;
        }
        if (ps->woken)
            continue;
        if (deadline != XPIPE__FOREVER && apr_time_now() >= deadline) {
            rv = APR_TIMEUP;
            break;
        }
        /* A stale wake-up, or an event that was not a whole message. */
    }
    *num = ps->nres;
    *descriptors = ps->nres ? ps->res : NULL;
    ps->polling = 0;
    apr_thread_mutex_unlock(ps->lock);
    return rv;
}

apr_status_t xpipe_pollset_wakeup(xpipe_pollset_t *ps)
{
    apr_status_t rv = APR_SUCCESS;

    xpipe__fail_clear();
    if (ps == NULL)
        return APR_EINVAL;
    apr_thread_mutex_lock(ps->lock);
    if (ps->destroyed)
        rv = XPIPE_ECLOSED;
    else if (!ps->woken) {
        ps->woken = 1;
        rv = ps->be->pset_wakeup(ps->impl);
    }
    apr_thread_mutex_unlock(ps->lock);
    return rv;
}

apr_status_t xpipe_pollset_os_handle_get(xpipe_pollset_t *ps,
                                         xpipe_os_handle_t *handle)
{
    apr_status_t rv;

    xpipe__fail_clear();
    if (ps == NULL || handle == NULL)
        return APR_EINVAL;
    memset(handle, 0, sizeof(*handle));
    apr_thread_mutex_lock(ps->lock);
    rv = ps->destroyed ? XPIPE_ECLOSED
         : ps->be->pset_os_handle_get
             ? ps->be->pset_os_handle_get(ps->impl, handle)
             : xpipe__not_offered(ps->be, "poll set handle");
    apr_thread_mutex_unlock(ps->lock);
    return rv;
}

/* Empty the set and release the backend's state; 0 when already done. */
static int pset_shut(xpipe_pollset_t *ps)
{
    xpipe__pm_t *m;

    apr_thread_mutex_lock(ps->lock);
    if (ps->destroyed) {
        apr_thread_mutex_unlock(ps->lock);
        return 0;
    }
    ps->destroyed = 1;
    while ((m = ps->live.next) != &ps->live)
        pm_remove(ps, m);
    for (m = ps->recheck; m; m = m->recheck)
        m->on_recheck = 0;
    ps->recheck = NULL;
    pm_free_dead(ps);
    apr_thread_mutex_unlock(ps->lock);
    /* A closer that found the set before we emptied it is still inside:
     * wait for it to leave (a few instructions). */
    while (xpipe__a32_get(&ps->closers) != 0)
        apr_thread_yield();
    ps->be->pset_destroy(ps->impl);
    return 1;
}

static apr_status_t pset_cleanup(void *data)
{
    pset_shut(data);
    return APR_SUCCESS;
}

apr_status_t xpipe_pollset_destroy(xpipe_pollset_t *ps)
{
    xpipe__fail_clear();
    if (ps == NULL)
        return APR_EINVAL;
    if (!pset_shut(ps))
        return APR_SUCCESS;
    apr_pool_cleanup_kill(ps->sub, ps, pset_cleanup);
    apr_pool_destroy(ps->own_pool ? ps->pool : ps->sub);
    return APR_SUCCESS;
}
