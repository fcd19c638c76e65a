/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The baseline IOVA allocator of dmaplane_bench iova: the classic design, one mutex around a
 * balanced tree. The tree is an AVL tree of free extents keyed by address, each node also
 * holding the longest extent in its subtree, so first-fit is one descent: go left whenever the
 * left subtree has an extent long enough. Allocation and free are O(log n) tree operations
 * (free merges with the neighbours found by two more descents), plus a node from a free list.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "bench_iova.h"

struct node {
	uint64_t start, len, maxlen;
	struct node *l, *r;
	int h;
};

struct base_alloc {
	pthread_mutex_t lock;
	struct node *root;
	struct node *spare; /* free nodes, linked through r */
};

static int height(const struct node *n)
{
	return n ? n->h : 0;
}

static uint64_t maxlen(const struct node *n)
{
	return n ? n->maxlen : 0;
}

static struct node *fix(struct node *n)
{
	int hl = height(n->l), hr = height(n->r);
	uint64_t m = n->len;

	n->h = 1 + (hl > hr ? hl : hr);
	if (maxlen(n->l) > m)
		m = maxlen(n->l);
	if (maxlen(n->r) > m)
		m = maxlen(n->r);
	n->maxlen = m;
	return n;
}

static struct node *rot_right(struct node *n)
{
	struct node *l = n->l;

	n->l = l->r;
	l->r = fix(n);
	return fix(l);
}

static struct node *rot_left(struct node *n)
{
	struct node *r = n->r;

	n->r = r->l;
	r->l = fix(n);
	return fix(r);
}

static struct node *balance(struct node *n)
{
	int b = height(n->l) - height(n->r);

	fix(n);
	if (b > 1) {
		if (height(n->l->l) < height(n->l->r))
			n->l = rot_left(n->l);
		return rot_right(n);
	}
	if (b < -1) {
		if (height(n->r->r) < height(n->r->l))
			n->r = rot_right(n->r);
		return rot_left(n);
	}
	return n;
}

static struct node *insert(struct node *t, struct node *n)
{
	if (t == NULL)
		return fix(n);
	if (n->start < t->start)
		t->l = insert(t->l, n);
	else
		t->r = insert(t->r, n);
	return balance(t);
}

static struct node *take_min(struct node *t, struct node **min)
{
	if (t->l == NULL) {
		*min = t;
		return t->r;
	}
	t->l = take_min(t->l, min);
	return balance(t);
}

/* Remove the node starting at @start; it is returned in *out. */
static struct node *erase(struct node *t, uint64_t start, struct node **out)
{
	struct node *m;

	if (t == NULL)
		return NULL;
	if (start < t->start) {
		t->l = erase(t->l, start, out);
	} else if (start > t->start) {
		t->r = erase(t->r, start, out);
	} else {
		*out = t;
		if (t->r == NULL)
			return t->l;
		struct node *r = take_min(t->r, &m);
		m->l = t->l;
		m->r = r;
		return balance(m);
	}
	return balance(t);
}

static struct node *first_fit(struct node *t, uint64_t need)
{
	while (t != NULL && t->maxlen >= need) {
		if (maxlen(t->l) >= need)
			t = t->l;
		else if (t->len >= need)
			return t;
		else
			t = t->r;
	}
	return NULL;
}

/* Last node starting below @at, first node starting at or above it. */
static void neighbours(struct node *t, uint64_t at, struct node **pred, struct node **succ)
{
	*pred = *succ = NULL;
	while (t != NULL) {
		if (t->start < at) {
			*pred = t;
			t = t->r;
		} else {
			*succ = t;
			t = t->l;
		}
	}
}

static struct node *new_node(struct base_alloc *b, uint64_t start, uint64_t len)
{
	struct node *n = b->spare;

	if (n != NULL)
		b->spare = n->r;
	else if ((n = malloc(sizeof(*n))) == NULL)
		abort();
	*n = (struct node){.start = start, .len = len};
	return n;
}

static void put_node(struct base_alloc *b, struct node *n)
{
	n->r = b->spare;
	b->spare = n;
}

struct base_alloc *base_create(uint64_t start, uint64_t len)
{
	struct base_alloc *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->root = insert(NULL, new_node(b, start, len));
	return b;
}

static void free_tree(struct node *t)
{
	if (t == NULL)
		return;
	free_tree(t->l);
	free_tree(t->r);
	free(t);
}

void base_destroy(struct base_alloc *b)
{
	free_tree(b->root);
	while (b->spare != NULL) {
		struct node *n = b->spare;
		b->spare = n->r;
		free(n);
	}
	free(b);
}

/* Natural alignment for power-of-two sizes, like dmaplane's allocator. */
int base_alloc(struct base_alloc *b, uint64_t size, uint64_t *iova)
{
	uint64_t align = 4096, a;
	struct node *n, *x;

	while (align < size)
		align <<= 1;
	pthread_mutex_lock(&b->lock);
	n = first_fit(b->root, size + align - 4096);
	if (n == NULL) {
		pthread_mutex_unlock(&b->lock);
		return -ENOSPC;
	}
	uint64_t s = n->start, e = n->start + n->len;
	b->root = erase(b->root, s, &x);
	put_node(b, x);
	a = (s + align - 1) & ~(align - 1);
	if (a > s)
		b->root = insert(b->root, new_node(b, s, a - s));
	if (a + size < e)
		b->root = insert(b->root, new_node(b, a + size, e - a - size));
	pthread_mutex_unlock(&b->lock);
	*iova = a;
	return 0;
}

void base_free(struct base_alloc *b, uint64_t iova, uint64_t size)
{
	uint64_t s = iova, e = iova + size;
	struct node *p, *q, *x;

	pthread_mutex_lock(&b->lock);
	neighbours(b->root, iova, &p, &q);
	if (p != NULL && p->start + p->len == s) {
		s = p->start;
		b->root = erase(b->root, p->start, &x);
		put_node(b, x);
	}
	if (q != NULL && q->start == e) {
		e = q->start + q->len;
		b->root = erase(b->root, q->start, &x);
		put_node(b, x);
	}
	b->root = insert(b->root, new_node(b, s, e - s));
	pthread_mutex_unlock(&b->lock);
}
