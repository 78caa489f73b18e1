// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * dma-buf-shim.c - protocol plumbing for out-of-process revoke-conformance shims.
 *
 * Wire protocol versions 2 and 1, as specified in the book's chapter "Shims in other
 * processes": one JSON object per line on stdin (from the harness) and stdout (to the harness).
 *
 *   harness -> shim: hello, case, call, kret, bye
 *   shim -> harness: hello, ready, ret, kcall
 *
 * The shim serves calls; while serving one it may send kcalls, and while it waits for a
 * kret the harness may call it again (nested). serve() below is that loop: it runs at the top
 * level (waiting for nothing) and inside every kernel call (waiting for its kret).
 *
 * Version 2 (concurrent calls): every call, ret, kcall and kret names a scenario thread. Each
 * scenario thread runs on a pthread of its own, started on its first call; a call or kret is
 * routed to its thread's mailbox. One thread runs at a time (the harness answers one kernel
 * call at a time): the thread that runs is the one that reads the next line, and hands it to
 * the thread it is for, which then runs. So the library's state needs no lock of its own
 * beyond the handover.
 *
 * You should not need to change this file to write a driver shim.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "dma-buf-shim.h"

#define LINE_MAX_BYTES (1024 * 1024)	/* as the harness: 1 MiB, newline included */
#define JSON_MAX_DEPTH 32

/* ---------------------------------------------------------------------------------------- */
/* Failure                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static const char *shim_name = "shim";
static char case_name[256];

static _Noreturn void fatal(const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static _Noreturn void fatal(const char *kind, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s", shim_name, kind);
	if (case_name[0])
		fprintf(stderr, " (case %s)", case_name);
	fprintf(stderr, ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	exit(1);
}

#define protocol_error(...) fatal("protocol error", __VA_ARGS__)
#define driver_error(...) fatal("driver error", __VA_ARGS__)

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		fatal("error", "out of memory");
	return p;
}

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		fatal("error", "out of memory");
	return p;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON values                                                                               */
/* ---------------------------------------------------------------------------------------- */

enum json_type { JSON_NULL, JSON_BOOL, JSON_INT, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

static const char *const json_type_names[] = {
	"null", "a boolean", "an integer", "a string", "an array", "an object",
};

struct json_member;

struct json {
	enum json_type type;
	bool b;
	long long i;
	char *s;			/* JSON_STRING, NUL-terminated (no NUL inside) */
	struct json *items;		/* JSON_ARRAY */
	struct json_member *members;	/* JSON_OBJECT */
	size_t n;			/* number of items or members */
};

struct json_member {
	char *key;
	struct json value;
};

static void json_free_inner(struct json *v)
{
	size_t k;

	free(v->s);
	if (v->type == JSON_ARRAY)
		for (k = 0; k < v->n; k++)
			json_free_inner(&v->items[k]);
	if (v->type == JSON_OBJECT)
		for (k = 0; k < v->n; k++) {
			free(v->members[k].key);
			json_free_inner(&v->members[k].value);
		}
	free(v->items);
	free(v->members);
}

static void json_free(struct json *v)
{
	if (v) {
		json_free_inner(v);
		free(v);
	}
}

static const struct json *json_get(const struct json *obj, const char *key)
{
	size_t k;

	for (k = 0; k < obj->n; k++)
		if (!strcmp(obj->members[k].key, key))
			return &obj->members[k].value;
	return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON parser (RFC 8259, integers only: the protocol has no other numbers)                 */
/* ---------------------------------------------------------------------------------------- */

struct parser {
	const char *p;
	const char *end;
	const char *err;	/* first error, static string */
};

static bool perr(struct parser *ps, const char *msg)
{
	if (!ps->err)
		ps->err = msg;
	return false;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t len = strlen(word);

	if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len))
		return perr(ps, "invalid literal");
	ps->p += len;
	return true;
}

static int hex4(struct parser *ps)
{
	int k, v = 0;

	if (ps->end - ps->p < 4)
		return -1;
	for (k = 0; k < 4; k++) {
		char c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t put_utf8(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Parses a string at ps->p (on the opening quote) into a fresh NUL-terminated buffer. */
static bool parse_string(struct parser *ps, char **out)
{
	/* Decoded text is never longer than its source. */
	const char *start = ++ps->p;
	char *buf, *o;

	while (ps->p < ps->end && *ps->p != '"') {
		if (*ps->p == '\\')
			ps->p++;
		ps->p++;
	}
	if (ps->p >= ps->end)
		return perr(ps, "unterminated string");
	buf = xcalloc((size_t)(ps->p - start) + 1, 1);
	o = buf;
	ps->p = start;
	while (*ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;

		if (c < 0x20)
			goto bad_control;
		if (c != '\\') {
			*o++ = (char)c;
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			long cp = hex4(ps);

			if (cp < 0)
				goto bad_escape;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				goto bad_escape;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				long lo;

				if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
					goto bad_escape;
				ps->p += 2;
				lo = hex4(ps);
				if (lo < 0xdc00 || lo > 0xdfff)
					goto bad_escape;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0) {
				free(buf);
				return perr(ps, "\\u0000 in a string");
			}
			/* 6 source bytes (\uXXXX) or 12 (a pair) make at most 3 or 4 bytes. */
			o += put_utf8(o, (unsigned long)cp);
			break;
		}
		default:
			goto bad_escape;
		}
	}
	ps->p++;
	*o = '\0';
	*out = buf;
	return true;

bad_control:
	free(buf);
	return perr(ps, "unescaped control character in a string");
bad_escape:
	free(buf);
	return perr(ps, "invalid escape in a string");
}

static bool parse_number(struct parser *ps, struct json *v)
{
	bool neg = false;
	unsigned long long mag = 0;
	unsigned long long limit;

	if (*ps->p == '-') {
		neg = true;
		ps->p++;
	}
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return perr(ps, "invalid number");
	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	if (*ps->p == '0') {
		ps->p++;
	} else {
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
			unsigned d = (unsigned)(*ps->p++ - '0');

			if (mag > (limit - d) / 10)
				return perr(ps, "integer out of range");
			mag = mag * 10 + d;
		}
	}
	if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
		return perr(ps, "a number that is not an integer");
	if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
		return perr(ps, "invalid number (leading zero)");
	v->type = JSON_INT;
	if (neg)
		v->i = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)mag;
	else
		v->i = (long long)mag;
	return true;
}

static bool parse_value(struct parser *ps, struct json *v, int depth);

static bool parse_array(struct parser *ps, struct json *v, int depth)
{
	size_t cap = 0;

	v->type = JSON_ARRAY;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return true;
	}
	for (;;) {
		if (v->n == cap) {
			cap = cap ? 2 * cap : 4;
			v->items = xrealloc(v->items, cap * sizeof(*v->items));
		}
		memset(&v->items[v->n], 0, sizeof(v->items[v->n]));
		v->n++;
		if (!parse_value(ps, &v->items[v->n - 1], depth + 1))
			return false;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return perr(ps, "unterminated array");
		if (*ps->p == ']') {
			ps->p++;
			return true;
		}
		if (*ps->p != ',')
			return perr(ps, "expected ',' or ']' in an array");
		ps->p++;
	}
}

static bool parse_object(struct parser *ps, struct json *v, int depth)
{
	size_t cap = 0;

	v->type = JSON_OBJECT;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return true;
	}
	for (;;) {
		struct json_member *m;

		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"')
			return perr(ps, "expected a string key in an object");
		if (v->n == cap) {
			cap = cap ? 2 * cap : 4;
			v->members = xrealloc(v->members, cap * sizeof(*v->members));
		}
		m = &v->members[v->n];
		memset(m, 0, sizeof(*m));
		v->n++;
		if (!parse_string(ps, &m->key))
			return false;
		if (json_get(v, m->key) != &m->value)
			return perr(ps, "duplicate key in an object");
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return perr(ps, "expected ':' in an object");
		ps->p++;
		if (!parse_value(ps, &m->value, depth + 1))
			return false;
		skip_ws(ps);
		if (ps->p >= ps->end)
			return perr(ps, "unterminated object");
		if (*ps->p == '}') {
			ps->p++;
			return true;
		}
		if (*ps->p != ',')
			return perr(ps, "expected ',' or '}' in an object");
		ps->p++;
	}
}

static bool parse_value(struct parser *ps, struct json *v, int depth)
{
	if (depth > JSON_MAX_DEPTH)
		return perr(ps, "nested too deeply");
	skip_ws(ps);
	if (ps->p >= ps->end)
		return perr(ps, "unexpected end of line");
	switch (*ps->p) {
	case '{':
		return parse_object(ps, v, depth);
	case '[':
		return parse_array(ps, v, depth);
	case '"':
		v->type = JSON_STRING;
		return parse_string(ps, &v->s);
	case 't':
		v->type = JSON_BOOL;
		v->b = true;
		return literal(ps, "true");
	case 'f':
		v->type = JSON_BOOL;
		return literal(ps, "false");
	case 'n':
		v->type = JSON_NULL;
		return literal(ps, "null");
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps, v);
		return perr(ps, "unexpected character");
	}
}

/* Parses one complete JSON text; NULL and *err set on error. */
static struct json *json_parse(const char *text, size_t len, const char **err)
{
	struct parser ps = { .p = text, .end = text + len, .err = NULL };
	struct json *v = xcalloc(1, sizeof(*v));

	if (parse_value(&ps, v, 0)) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			perr(&ps, "trailing characters after the value");
	}
	if (ps.err) {
		json_free(v);
		*err = ps.err;
		return NULL;
	}
	return v;
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                    */
/* ---------------------------------------------------------------------------------------- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_putn(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		sb->cap = 2 * (sb->len + n + 1) + 64;
		sb->s = xrealloc(sb->s, sb->cap);
	}
	memcpy(sb->s + sb->len, s, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

static void sb_puts(struct sbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

static void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		fatal("error", "internal formatting overflow");
	sb_putn(sb, tmp, (size_t)n);
}

/* A JSON string literal. */
static void sb_str(struct sbuf *sb, const char *s)
{
	sb_putn(sb, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };

			sb_putn(sb, esc, 2);
		} else if (c < 0x20) {
			sb_printf(sb, "\\u%04x", c);
		} else {
			sb_putn(sb, (const char *)&c, 1);
		}
	}
	sb_putn(sb, "\"", 1);
}

/* Writes one protocol line and flushes it. */
static void send_line(struct sbuf *sb)
{
	sb_putn(sb, "\n", 1);
	if (fwrite(sb->s, 1, sb->len, stdout) != sb->len || fflush(stdout))
		fatal("error", "cannot write to standard output");
	free(sb->s);
	sb->s = NULL;
	sb->len = sb->cap = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static char *line_buf;
static size_t line_cap;

/* Reads one line (without its newline); NULL at end of input. */
static const char *read_line(size_t *len)
{
	size_t n = 0;
	int c;

	for (;;) {
		c = getchar();
		if (c == EOF) {
			if (ferror(stdin))
				fatal("error", "cannot read standard input");
			if (n == 0)
				return NULL;
			protocol_error("truncated line at end of input (no newline)");
		}
		if (c == '\n')
			break;
		if (n + 2 > LINE_MAX_BYTES)
			protocol_error("oversized line (more than %d bytes)", LINE_MAX_BYTES);
		if (n + 1 >= line_cap) {
			line_cap = line_cap ? 2 * line_cap : 4096;
			line_buf = xrealloc(line_buf, line_cap);
		}
		line_buf[n++] = (char)c;
	}
	if (!line_buf)
		line_buf = xrealloc(NULL, line_cap = 4096);
	line_buf[n] = '\0';
	*len = n;
	return line_buf;
}

/* Reads and parses one message: an object with a string "type". NULL at end of input. */
static struct json *read_message(const char **type)
{
	const char *line, *err = NULL;
	const struct json *t;
	struct json *msg;
	size_t len;

	line = read_line(&len);
	if (!line)
		return NULL;
	msg = json_parse(line, len, &err);
	if (!msg)
		protocol_error("invalid JSON (%s): %.200s", err, line);
	if (msg->type != JSON_OBJECT)
		protocol_error("a message must be a JSON object: %.200s", line);
	t = json_get(msg, "type");
	if (!t || t->type != JSON_STRING)
		protocol_error("a message needs a string \"type\": %.200s", line);
	*type = t->s;
	return msg;
}

/* Checks that obj has exactly the listed keys (besides "type"), of the listed types. */
static void expect_fields(const struct json *obj, const char *what, const char *const *keys,
			  const enum json_type *types, size_t nkeys, const char *skip)
{
	size_t k, j;

	for (k = 0; k < obj->n; k++) {
		const char *key = obj->members[k].key;

		if (skip && !strcmp(key, skip))
			continue;
		for (j = 0; j < nkeys; j++)
			if (!strcmp(key, keys[j]))
				break;
		if (j == nkeys)
			protocol_error("unknown field \"%s\" in %s", key, what);
		if (obj->members[k].value.type != types[j])
			protocol_error("field \"%s\" of %s must be %s, not %s", key, what,
				       json_type_names[types[j]],
				       json_type_names[obj->members[k].value.type]);
	}
	for (j = 0; j < nkeys; j++)
		if (!json_get(obj, keys[j]))
			protocol_error("missing field \"%s\" in %s", keys[j], what);
}

/* ---------------------------------------------------------------------------------------- */
/* Objects of the current case                                                               */
/* ---------------------------------------------------------------------------------------- */

enum obj_kind { OBJ_BUF, OBJ_ATT, OBJ_SGT, OBJ_FENCE, OBJ_IMPORTER };

struct obj {
	enum obj_kind kind;
	long id;
	void *ptr;
};

static struct obj *objs;
static size_t nobjs, objs_cap;

static const struct shim_exporter *exporter;
static const struct shim_importer *importer;

static void *obj_find(enum obj_kind kind, long id)
{
	size_t k;

	for (k = 0; k < nobjs; k++)
		if (objs[k].kind == kind && objs[k].id == id)
			return objs[k].ptr;
	return NULL;
}

static void obj_add(enum obj_kind kind, long id, void *ptr)
{
	if (nobjs == objs_cap) {
		objs_cap = objs_cap ? 2 * objs_cap : 16;
		objs = xrealloc(objs, objs_cap * sizeof(*objs));
	}
	objs[nobjs++] = (struct obj){ .kind = kind, .id = id, .ptr = ptr };
}

static struct dma_buf *buf_get(long id)
{
	struct dma_buf *dmabuf = obj_find(OBJ_BUF, id);

	if (!dmabuf) {
		dmabuf = xcalloc(1, sizeof(*dmabuf));
		dmabuf->id = id;
		dmabuf->resv_obj.buf = id;
		dmabuf->resv = &dmabuf->resv_obj;
		obj_add(OBJ_BUF, id, dmabuf);
	}
	return dmabuf;
}

static struct sg_table *sgt_get(long id)
{
	struct sg_table *sgt = obj_find(OBJ_SGT, id);

	if (!sgt) {
		sgt = xcalloc(1, sizeof(*sgt));
		sgt->id = id;
		obj_add(OBJ_SGT, id, sgt);
	}
	return sgt;
}

static struct dma_fence *fence_get(long id)
{
	struct dma_fence *fence = obj_find(OBJ_FENCE, id);

	if (!fence) {
		fence = xcalloc(1, sizeof(*fence));
		fence->id = id;
		obj_add(OBJ_FENCE, id, fence);
	}
	return fence;
}

static struct dma_buf_attachment *att_new(long id)
{
	struct dma_buf_attachment *attach = xcalloc(1, sizeof(*attach));

	attach->id = id;
	obj_add(OBJ_ATT, id, attach);
	return attach;
}

/* Drops every object of the case; the driver frees its state in its destroy actions. */
static void reset_case(void)
{
	size_t k;

	for (k = 0; k < nobjs; k++) {
		if (objs[k].kind == OBJ_BUF && exporter && exporter->actions &&
		    exporter->actions->destroy && ((struct dma_buf *)objs[k].ptr)->exporter_instance)
			exporter->actions->destroy(objs[k].ptr);
		if (objs[k].kind == OBJ_IMPORTER && importer->actions && importer->actions->destroy)
			importer->actions->destroy(objs[k].ptr);
	}
	for (k = 0; k < nobjs; k++)
		free(objs[k].ptr);
	nobjs = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Calls from the harness and kernel calls to it                                             */
/* ---------------------------------------------------------------------------------------- */

static long long last_call_id;
static long long kcall_seq;
static __thread int call_depth;		/* calls being served on this thread */
static __thread long current_buf = -1;	/* buffer of the innermost call, for WARN_ON() */

static void handle_call(const struct json *msg);
static struct json *serve(long long wait_id);

/* ---------------------------------------------------------------------------------------- */
/* Scenario threads (protocol version 2)                                                     */
/* ---------------------------------------------------------------------------------------- */

static int protocol_version = 1;	/* chosen at hello */

#define MAX_THREADS 64

struct sthread {
	char name[33];
	struct json *mail;	/* a message handed to this thread, not taken yet */
};

static struct sthread threads[MAX_THREADS];
static size_t nthreads;
static pthread_mutex_t handover = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t handed = PTHREAD_COND_INITIALIZER;
static struct sthread *running;		/* the thread that runs, and reads the next line */
static __thread struct sthread *me;	/* the calling thread's scenario thread */

static void *thread_main(void *arg)
{
	me = arg;
	serve(0);
	return NULL;
}

/* The scenario thread named name, started on first use; with handover held. */
static struct sthread *thread_named(const char *name)
{
	struct sthread *t;
	pthread_t tid;
	size_t k;

	for (k = 0; k < nthreads; k++)
		if (!strcmp(threads[k].name, name))
			return &threads[k];
	if (!name[0] || strlen(name) >= sizeof(threads[0].name))
		protocol_error("\"%s\" is not a thread name (1 to 32 characters)", name);
	if (nthreads == MAX_THREADS)
		protocol_error("more than %d scenario threads", MAX_THREADS);
	t = &threads[nthreads++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	if (pthread_create(&tid, NULL, thread_main, t))
		fatal("error", "cannot start a pthread for scenario thread %s", name);
	pthread_detach(tid);
	return t;
}

/*
 * The thread a message is for: the one a call or kret of version 2 names; NULL for a message
 * of no thread (hello, case, bye; every message of version 1), which the running thread
 * handles.
 */
static struct sthread *thread_of(const struct json *msg, const char *type)
{
	const struct json *t;

	if (protocol_version < 2 || (strcmp(type, "call") && strcmp(type, "kret")))
		return NULL;
	t = json_get(msg, "thread");
	if (!t || t->type != JSON_STRING)
		protocol_error("a %s of protocol version 2 needs a string \"thread\"", type);
	return thread_named(t->s);
}

/*
 * The next message for the calling thread: one handed to it, or, when it is the thread that
 * runs, the next line, handed on to the thread it is for (which then runs). NULL at end of
 * input.
 */
static struct json *next_message(const char **type)
{
	struct json *msg;
	struct sthread *to;

	pthread_mutex_lock(&handover);
	for (;;) {
		if (me->mail) {
			msg = me->mail;
			me->mail = NULL;
			running = me;
			pthread_mutex_unlock(&handover);
			*type = json_get(msg, "type")->s;
			return msg;
		}
		if (running == me) {
			pthread_mutex_unlock(&handover);
			msg = read_message(type);
			if (!msg)
				return NULL;
			pthread_mutex_lock(&handover);
			to = thread_of(msg, *type);
			if (!to || to == me) {
				pthread_mutex_unlock(&handover);
				return msg;
			}
			to->mail = msg;
			running = to;
			pthread_cond_broadcast(&handed);
			continue;
		}
		pthread_cond_wait(&handed, &handover);
	}
}

/* The "thread" member of a ret or kcall line, in version 2. */
static void sb_thread(struct sbuf *sb)
{
	if (protocol_version >= 2) {
		sb_puts(sb, ",\"thread\":");
		sb_str(sb, me->name);
	}
}

/*
 * Serves messages until the kret of kernel call wait_id arrives (returned, to be freed by the
 * caller), or for ever at the top level (wait_id 0).
 */
static struct json *serve(long long wait_id)
{
	for (;;) {
		const char *type;
		struct json *msg = next_message(&type);

		if (!msg) {
			if (wait_id)
				pr_info("%s: end of input while waiting for the kret of kcall %lld\n",
					shim_name, wait_id);
			exit(0);
		}
		if (!strcmp(type, "call")) {
			handle_call(msg);
			json_free(msg);
		} else if (!strcmp(type, "kret")) {
			static const char *const keys[] = { "id", "ret", "thread" };
			const enum json_type types[] = { JSON_INT, json_get(msg, "ret") ?
							 json_get(msg, "ret")->type : JSON_NULL,
							 JSON_STRING };
			long long id;

			expect_fields(msg, "a kret", keys, types, protocol_version >= 2 ? 3 : 2,
				      "type");
			id = json_get(msg, "id")->i;
			if (!wait_id)
				protocol_error("kret %lld while no kernel call is pending (thread %s)",
					       id, me->name);
			if (id != wait_id)
				protocol_error("kret %lld, but the pending kernel call is %lld (thread %s)",
					       id, wait_id, me->name);
			return msg;
		} else if (!strcmp(type, "case")) {
			static const char *const keys[] = { "name" };
			static const enum json_type types[] = { JSON_STRING };
			struct sbuf sb = { 0 };

			if (wait_id)
				protocol_error("case while kernel call %lld waits for its kret",
					       wait_id);
			expect_fields(msg, "a case", keys, types, 1, "type");
			reset_case();
			snprintf(case_name, sizeof(case_name), "%s", json_get(msg, "name")->s);
			json_free(msg);
			sb_puts(&sb, "{\"type\":\"ready\"}");
			send_line(&sb);
		} else if (!strcmp(type, "bye")) {
			if (wait_id)
				protocol_error("bye while kernel call %lld waits for its kret", wait_id);
			json_free(msg);
			reset_case();
			exit(0);
		} else if (!strcmp(type, "hello")) {
			protocol_error("a second hello");
		} else {
			protocol_error("unknown message type \"%s\"", type);
		}
	}
}

enum ret_kind { RET_NULL, RET_INT, RET_BOOL, RET_OBJECT, RET_STRING };

static const enum json_type ret_json[] = { JSON_NULL, JSON_INT, JSON_BOOL, JSON_OBJECT, JSON_STRING };

/*
 * Sends kernel call fn with the pre-formatted arguments args ("\"buf\":0,..."), serves the
 * harness until its kret, checks the type of the value and returns the kret message.
 */
static struct json *kcall(const char *fn, enum ret_kind want, const char *args)
{
	struct sbuf sb = { 0 };
	struct json *msg;
	const struct json *ret;
	long long id;

	if (!call_depth)
		driver_error("%s() called while no call from the harness is being served", fn);
	id = ++kcall_seq;
	sb_printf(&sb, "{\"type\":\"kcall\",\"id\":%lld", id);
	sb_thread(&sb);
	sb_puts(&sb, ",\"call\":{\"fn\":");
	sb_str(&sb, fn);
	if (args && *args) {
		sb_puts(&sb, ",");
		sb_puts(&sb, args);
	}
	sb_puts(&sb, "}}");
	send_line(&sb);
	msg = serve(id);
	ret = json_get(msg, "ret");
	if (ret->type != ret_json[want])
		protocol_error("kret of %s must be %s, not %s", fn, json_type_names[ret_json[want]],
			       json_type_names[ret->type]);
	return msg;
}

static void kcall_void(const char *fn, const char *args)
{
	json_free(kcall(fn, RET_NULL, args));
}

static long long kcall_int(const char *fn, const char *args)
{
	struct json *msg = kcall(fn, RET_INT, args);
	long long v = json_get(msg, "ret")->i;

	json_free(msg);
	return v;
}

/* A kernel call that returns a fence id: the fence, or a protocol error for a negative id. */
static struct dma_fence *kcall_fence(const char *fn, const char *args)
{
	long long id = kcall_int(fn, args);

	if (id < 0)
		protocol_error("kret of %s: a fence id must be >= 0, not %lld", fn, id);
	return fence_get((long)id);
}

static bool kcall_bool(const char *fn, const char *args)
{
	struct json *msg = kcall(fn, RET_BOOL, args);
	bool v = json_get(msg, "ret")->b;

	json_free(msg);
	return v;
}

/* An errno in a kret: a negative value the kernel could return as an error pointer. */
static long check_errno(const char *fn, long long v)
{
	if (v < -MAX_ERRNO)
		protocol_error("kret of %s: %lld is not an errno", fn, v);
	return (long)v;
}

#define ARGS(...) (snprintf(args, sizeof(args), __VA_ARGS__), args)

static const char *const usage_names[] = { "KERNEL", "WRITE", "READ", "BOOKKEEP" };

static const char *usage_name(enum dma_resv_usage usage)
{
	if ((unsigned)usage >= sizeof(usage_names) / sizeof(usage_names[0]))
		driver_error("invalid enum dma_resv_usage %d", (int)usage);
	return usage_names[usage];
}

static void check_buf(const char *fn, const struct dma_buf *dmabuf)
{
	if (!dmabuf)
		driver_error("%s(NULL)", fn);
}

static void check_att(const char *fn, const struct dma_buf_attachment *attach)
{
	if (IS_ERR_OR_NULL(attach))
		driver_error("%s() on a NULL or error attachment", fn);
}

int dma_buf_export(struct dma_buf *dmabuf)
{
	char args[64];

	check_buf(__func__, dmabuf);
	return (int)check_errno(__func__, kcall_int(__func__, ARGS("\"buf\":%ld", dmabuf->id)));
}

static struct dma_buf_attachment *do_attach(const char *fn, struct dma_buf *dmabuf,
					    struct device *dev,
					    const struct dma_buf_attach_ops *importer_ops,
					    void *importer_priv)
{
	struct dma_buf_attachment *attach;
	struct dma_buf_importer *imp;
	char args[96];
	long ret;

	check_buf(fn, dmabuf);
	if (!dev)
		driver_error("%s() without a device", fn);
	/*
	 * As in the kernel, the attachment exists with its importer_ops before the core links
	 * it: an invalidation racing with the attach reaches the importer before this returns.
	 */
	attach = obj_find(OBJ_ATT, dev->id);
	if (!attach)
		attach = att_new(dev->id);
	attach->dmabuf = dmabuf;
	attach->importer_ops = importer_ops;
	attach->importer_priv = importer_priv;
	attach->peer2peer = importer_ops && importer_ops->allow_peer2peer;
	ret = check_errno(fn, kcall_int(fn, ARGS("\"buf\":%ld,\"att\":%ld", dmabuf->id,
						 dev->id)));
	if (ret < 0) {
		attach->importer_ops = NULL;
		attach->importer_priv = NULL;
		return ERR_PTR(ret);
	}
	imp = obj_find(OBJ_IMPORTER, dev->id);
	if (imp)
		imp->attach = attach;
	return attach;
}

struct dma_buf_attachment *dma_buf_attach(struct dma_buf *dmabuf, struct device *dev)
{
	return do_attach(__func__, dmabuf, dev, NULL, NULL);
}

struct dma_buf_attachment *dma_buf_dynamic_attach(struct dma_buf *dmabuf, struct device *dev,
						  const struct dma_buf_attach_ops *importer_ops,
						  void *importer_priv)
{
	if (!importer_ops)
		driver_error("%s() without importer_ops", __func__);
	return do_attach(__func__, dmabuf, dev, importer_ops, importer_priv);
}

void dma_buf_detach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct dma_buf_importer *imp;
	char args[96];

	check_buf(__func__, dmabuf);
	check_att(__func__, attach);
	kcall_void(__func__, ARGS("\"buf\":%ld,\"att\":%ld", dmabuf->id, attach->id));
	imp = obj_find(OBJ_IMPORTER, attach->id);
	if (imp && imp->attach == attach)
		imp->attach = NULL;
}

bool dma_buf_attach_revocable(struct dma_buf_attachment *attach)
{
	char args[64];

	check_att(__func__, attach);
	return kcall_bool(__func__, ARGS("\"att\":%ld", attach->id));
}

int dma_buf_pin(struct dma_buf_attachment *attach)
{
	char args[64];

	check_att(__func__, attach);
	return (int)check_errno(__func__, kcall_int(__func__, ARGS("\"att\":%ld", attach->id)));
}

void dma_buf_unpin(struct dma_buf_attachment *attach)
{
	char args[64];

	check_att(__func__, attach);
	kcall_void(__func__, ARGS("\"att\":%ld", attach->id));
}

static struct sg_table *do_map(const char *fn, struct dma_buf_attachment *attach)
{
	char args[64];
	long long ret;

	check_att(fn, attach);
	ret = kcall_int(fn, ARGS("\"att\":%ld", attach->id));
	if (ret < 0)
		return ERR_PTR(check_errno(fn, ret));
	return sgt_get((long)ret);
}

struct sg_table *dma_buf_map_attachment(struct dma_buf_attachment *attach,
					enum dma_data_direction dir)
{
	(void)dir;
	return do_map(__func__, attach);
}

struct sg_table *dma_buf_map_attachment_unlocked(struct dma_buf_attachment *attach,
						 enum dma_data_direction dir)
{
	(void)dir;
	return do_map(__func__, attach);
}

static void do_unmap(const char *fn, struct dma_buf_attachment *attach, struct sg_table *sgt)
{
	char args[96];

	check_att(fn, attach);
	if (IS_ERR_OR_NULL(sgt))
		driver_error("%s() of a NULL or error sg_table", fn);
	kcall_void(fn, ARGS("\"att\":%ld,\"sgt\":%ld", attach->id, sgt->id));
}

void dma_buf_unmap_attachment(struct dma_buf_attachment *attach, struct sg_table *sgt,
			      enum dma_data_direction dir)
{
	(void)dir;
	do_unmap(__func__, attach, sgt);
}

void dma_buf_unmap_attachment_unlocked(struct dma_buf_attachment *attach, struct sg_table *sgt,
				       enum dma_data_direction dir)
{
	(void)dir;
	do_unmap(__func__, attach, sgt);
}

void dma_buf_invalidate_mappings(struct dma_buf *dmabuf)
{
	char args[64];

	check_buf(__func__, dmabuf);
	kcall_void(__func__, ARGS("\"buf\":%ld", dmabuf->id));
}

int dma_buf_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	char args[64];

	(void)map;
	check_buf(__func__, dmabuf);
	return (int)check_errno(__func__, kcall_int(__func__, ARGS("\"buf\":%ld", dmabuf->id)));
}

void dma_buf_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	char args[64];

	(void)map;
	check_buf(__func__, dmabuf);
	kcall_void(__func__, ARGS("\"buf\":%ld", dmabuf->id));
}

int dma_buf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma, unsigned long pgoff)
{
	char args[64];

	(void)vma;
	(void)pgoff;
	check_buf(__func__, dmabuf);
	return (int)check_errno(__func__, kcall_int(__func__, ARGS("\"buf\":%ld", dmabuf->id)));
}

void dma_buf_put(struct dma_buf *dmabuf)
{
	char args[64];

	check_buf(__func__, dmabuf);
	kcall_void(__func__, ARGS("\"buf\":%ld", dmabuf->id));
}

static void check_resv(const char *fn, const struct dma_resv *obj)
{
	if (!obj)
		driver_error("%s(NULL)", fn);
}

int dma_resv_lock(struct dma_resv *obj, struct ww_acquire_ctx *ctx)
{
	char args[64];

	check_resv(__func__, obj);
	if (ctx)
		driver_error("%s() with a ww_acquire_ctx: the model has none", __func__);
	kcall_void(__func__, ARGS("\"buf\":%ld", obj->buf));
	return 0;
}

void dma_resv_unlock(struct dma_resv *obj)
{
	char args[64];

	check_resv(__func__, obj);
	kcall_void(__func__, ARGS("\"buf\":%ld", obj->buf));
}

void dma_resv_assert_held(struct dma_resv *obj)
{
	char args[64];

	check_resv(__func__, obj);
	kcall_void(__func__, ARGS("\"buf\":%ld", obj->buf));
}

bool dma_resv_is_locked(struct dma_resv *obj)
{
	char args[64];

	check_resv(__func__, obj);
	return kcall_bool(__func__, ARGS("\"buf\":%ld", obj->buf));
}

void dma_resv_add_fence(struct dma_resv *obj, struct dma_fence *fence,
			enum dma_resv_usage usage)
{
	char args[128];

	check_resv(__func__, obj);
	if (IS_ERR_OR_NULL(fence))
		driver_error("%s() of a NULL or error fence", __func__);
	kcall_void(__func__, ARGS("\"buf\":%ld,\"fence\":%ld,\"usage\":\"%s\"", obj->buf,
				  fence->id, usage_name(usage)));
}

long dma_resv_wait_timeout(struct dma_resv *obj, enum dma_resv_usage usage, bool intr,
			   unsigned long timeout)
{
	char args[160];
	char tmo[32];

	check_resv(__func__, obj);
	if (timeout >= (unsigned long)MAX_SCHEDULE_TIMEOUT)
		snprintf(tmo, sizeof(tmo), "\"MAX_SCHEDULE_TIMEOUT\"");
	else
		snprintf(tmo, sizeof(tmo), "%lu", timeout);
	return check_errno(__func__,
			   kcall_int(__func__,
				     ARGS("\"buf\":%ld,\"usage\":\"%s\",\"intr\":%s,\"timeout\":%s",
					  obj->buf, usage_name(usage), intr ? "true" : "false",
					  tmo)));
}

struct dma_fence *dma_fence_create(bool completes)
{
	char args[64];

	return kcall_fence(__func__, ARGS("\"completes\":%s", completes ? "true" : "false"));
}

struct dma_fence *ttm_bo_move_accel_cleanup(struct dma_buf *dmabuf)
{
	char args[64];

	check_buf(__func__, dmabuf);
	return kcall_fence(__func__, ARGS("\"buf\":%ld", dmabuf->id));
}

struct sg_table *new_sg_table(struct dma_buf_attachment *attach)
{
	char args[64];
	long long id;

	check_att(__func__, attach);
	id = kcall_int(__func__, ARGS("\"att\":%ld", attach->id));
	if (id < 0)
		protocol_error("kret of %s: a table id must be >= 0, not %lld", __func__, id);
	return sgt_get((long)id);
}

void wait_for_unmap(struct dma_buf *dmabuf)
{
	char args[64];

	check_buf(__func__, dmabuf);
	kcall_void(__func__, ARGS("\"buf\":%ld", dmabuf->id));
}

void down_write(struct rw_semaphore *sem)
{
	char args[64];

	if (!sem)
		driver_error("%s(NULL)", __func__);
	kcall_void(__func__, ARGS("\"buf\":%ld", sem->buf));
}

void up_write(struct rw_semaphore *sem)
{
	char args[64];

	if (!sem)
		driver_error("%s(NULL)", __func__);
	kcall_void(__func__, ARGS("\"buf\":%ld", sem->buf));
}

void reclaim_memory(struct dma_buf *dmabuf)
{
	char args[64];

	check_buf(__func__, dmabuf);
	kcall_void(__func__, ARGS("\"buf\":%ld", dmabuf->id));
}

int vfio_pci_dma_buf_iommufd_map(struct dma_buf_attachment *attach, struct phys_vec *phys)
{
	char args[64];
	long long ret;

	check_att(__func__, attach);
	if (!phys)
		driver_error("%s() without a phys_vec to fill", __func__);
	ret = kcall_int(__func__, ARGS("\"att\":%ld", attach->id));
	if (ret < 0)
		return check_errno(__func__, ret);
	phys->range = sgt_get((long)ret);
	return 0;
}

void iommu_unmap(struct dma_buf_attachment *attach, struct phys_vec *phys)
{
	char args[96];

	check_att(__func__, attach);
	if (!phys || IS_ERR_OR_NULL(phys->range))
		driver_error("%s() of no range", __func__);
	kcall_void(__func__, ARGS("\"att\":%ld,\"sgt\":%ld", attach->id, phys->range->id));
}

static const char *const outcome_names[] = {
	[DEVICE_ACCESS_OK] = "ok",
	[DEVICE_ACCESS_AFTER_INVALIDATE] = "after_invalidate",
	[DEVICE_ACCESS_UNMAPPED] = "unmapped",
	[DEVICE_ACCESS_NO_MAPPING] = "no_mapping",
	[DEVICE_ACCESS_RECLAIMED] = "reclaimed",
	[DEVICE_ACCESS_NOT_READY] = "not_ready",
};

enum device_access_outcome device_access(struct dma_buf_attachment *attach, struct sg_table *sgt,
					 bool write)
{
	char args[128];
	char sgtbuf[32];
	struct json *msg;
	const char *s;
	size_t k;

	check_att(__func__, attach);
	if (IS_ERR_OR_NULL(sgt))
		snprintf(sgtbuf, sizeof(sgtbuf), "null");
	else
		snprintf(sgtbuf, sizeof(sgtbuf), "%ld", sgt->id);
	msg = kcall(__func__, RET_STRING, ARGS("\"att\":%ld,\"sgt\":%s,\"write\":%s", attach->id,
					       sgtbuf, write ? "true" : "false"));
	s = json_get(msg, "ret")->s;
	for (k = 0; k < sizeof(outcome_names) / sizeof(outcome_names[0]); k++)
		if (!strcmp(s, outcome_names[k])) {
			json_free(msg);
			return (enum device_access_outcome)k;
		}
	protocol_error("kret of %s: unknown outcome \"%s\"", __func__, s);
}

struct dma_fence *device_submit(struct dma_buf_attachment *attach, struct sg_table *sgt,
				bool write)
{
	char args[128];

	check_att(__func__, attach);
	if (IS_ERR_OR_NULL(sgt))
		driver_error("%s() of a NULL or error sg_table", __func__);
	return kcall_fence(__func__, ARGS("\"att\":%ld,\"sgt\":%ld,\"write\":%s", attach->id,
					  sgt->id, write ? "true" : "false"));
}

bool shim_warn_on(bool cond, const char *what)
{
	struct sbuf sb = { 0 };

	if (!cond)
		return false;
	pr_warn("%s: WARN_ON(%s)\n", shim_name, what);
	if (current_buf < 0 || !call_depth)
		return true;	/* no buffer to report it against: standard error only */
	sb_printf(&sb, "\"buf\":%ld,\"what\":", current_buf);
	sb_str(&sb, what);
	kcall_void("warn", sb.s);
	free(sb.s);
	return true;
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch of calls                                                                         */
/* ---------------------------------------------------------------------------------------- */

enum arg { A_NONE, A_BUF, A_ATT, A_SGT, A_USAGE, A_COMPLETES, A_WRITE };

static const char *const arg_names[] = {
	[A_NONE] = "", [A_BUF] = "buf", [A_ATT] = "att", [A_SGT] = "sgt",
	[A_USAGE] = "usage", [A_COMPLETES] = "completes", [A_WRITE] = "write",
};

struct call_desc {
	const char *fn;
	enum arg args[3];
};

static const struct call_desc exporter_calls[] = {
	{ "new", { A_BUF } },
	{ "attach", { A_BUF, A_ATT } },
	{ "detach", { A_BUF, A_ATT } },
	{ "pin", { A_BUF, A_ATT } },
	{ "unpin", { A_BUF, A_ATT } },
	{ "map_dma_buf", { A_BUF, A_ATT } },
	{ "unmap_dma_buf", { A_BUF, A_ATT, A_SGT } },
	{ "vmap", { A_BUF } },
	{ "vunmap", { A_BUF } },
	{ "mmap", { A_BUF } },
	{ "release", { A_BUF } },
	{ "export", { A_BUF } },
	{ "revoke", { A_BUF } },
	{ "restore", { A_BUF } },
	{ "move_buffer", { A_BUF } },
	{ "reclaim", { A_BUF } },
	{ "add_own_fence", { A_BUF, A_USAGE, A_COMPLETES } },
	{ "put", { A_BUF } },
	{ NULL, { A_NONE } },
};

static const struct call_desc importer_calls[] = {
	{ "new", { A_ATT } },
	{ "invalidate_mappings", { A_ATT } },
	{ "attach", { A_ATT, A_BUF } },
	{ "map", { A_ATT } },
	{ "access", { A_ATT, A_WRITE } },
	{ "submit", { A_ATT, A_WRITE } },
	{ "unmap", { A_ATT } },
	{ "detach", { A_ATT } },
	{ "vmap", { A_ATT } },
	{ "vmap_hold", { A_ATT } },
	{ "vunmap", { A_ATT } },
	{ NULL, { A_NONE } },
};

/* The decoded arguments of one call. */
struct call_args {
	const char *fn;
	long buf, att, sgt;
	enum dma_resv_usage usage;
	bool completes, write;
};

/* Validates the "call" object against the table of the role and decodes its arguments. */
static void decode_call(const struct json *call, const struct call_desc *table,
			struct call_args *a)
{
	const struct call_desc *d;
	const struct json *fn = json_get(call, "fn");
	size_t k;
	int j;

	if (!fn || fn->type != JSON_STRING)
		protocol_error("a call needs a string \"fn\"");
	for (d = table; d->fn; d++)
		if (!strcmp(d->fn, fn->s))
			break;
	if (!d->fn)
		protocol_error("unknown call \"%s\" for an %s", fn->s,
			       table == exporter_calls ? "exporter" : "importer");
	a->fn = d->fn;
	for (k = 0; k < call->n; k++) {
		const char *key = call->members[k].key;
		const struct json *v = &call->members[k].value;
		enum arg arg = A_NONE;

		if (!strcmp(key, "fn"))
			continue;
		for (j = 0; j < 3 && d->args[j] != A_NONE; j++)
			if (!strcmp(key, arg_names[d->args[j]]))
				arg = d->args[j];
		if (arg == A_NONE)
			protocol_error("unknown field \"%s\" in call %s", key, d->fn);
		switch (arg) {
		case A_BUF:
		case A_ATT:
		case A_SGT:
			if (v->type != JSON_INT || v->i < 0 || v->i > LONG_MAX)
				protocol_error("\"%s\" of call %s must be an id (an integer >= 0)",
					       key, d->fn);
			if (arg == A_BUF)
				a->buf = (long)v->i;
			else if (arg == A_ATT)
				a->att = (long)v->i;
			else
				a->sgt = (long)v->i;
			break;
		case A_USAGE: {
			size_t u;

			if (v->type != JSON_STRING)
				protocol_error("\"usage\" of call %s must be a string", d->fn);
			for (u = 0; u < sizeof(usage_names) / sizeof(usage_names[0]); u++)
				if (!strcmp(v->s, usage_names[u]))
					break;
			if (u == sizeof(usage_names) / sizeof(usage_names[0]))
				protocol_error("unknown usage \"%s\"", v->s);
			a->usage = (enum dma_resv_usage)u;
			break;
		}
		case A_COMPLETES:
		case A_WRITE:
			if (v->type != JSON_BOOL)
				protocol_error("\"%s\" of call %s must be a boolean", key, d->fn);
			if (arg == A_WRITE)
				a->write = v->b;
			else
				a->completes = v->b;
			break;
		case A_NONE:
			break;
		}
	}
	for (j = 0; j < 3 && d->args[j] != A_NONE; j++)
		if (!json_get(call, arg_names[d->args[j]]))
			protocol_error("missing argument \"%s\" in call %s", arg_names[d->args[j]],
				       d->fn);
}

/* The reply values. */
enum reply_kind { REPLY_NULL, REPLY_INT, REPLY_RAW };

struct reply {
	enum reply_kind kind;
	long long i;
	struct sbuf raw;
};

/*
 * A non-NULL invalidate_mappings for attachments of importers in the harness: the exporter may
 * test attach->importer_ops->invalidate_mappings, but only the core calls it.
 */
static void remote_invalidate_mappings(struct dma_buf_attachment *attach)
{
	driver_error("the exporter called invalidate_mappings of att%ld itself: use "
		     "dma_buf_invalidate_mappings()", attach->id);
}

/* The exporter's view of an attachment, as the harness describes it. */
static void att_refresh(struct dma_buf_attachment *attach, struct dma_buf *dmabuf)
{
	/* importer_ops of remote importers, by [allow_peer2peer][invalidate_mappings set]. */
	static const struct dma_buf_attach_ops remote_ops[2][2] = {
		{ { false, NULL }, { false, remote_invalidate_mappings } },
		{ { true, NULL }, { true, remote_invalidate_mappings } },
	};
	static const char *const keys[] = { "buf", "dynamic", "peer2peer", "invalidate_mappings" };
	static const enum json_type types[] = { JSON_INT, JSON_BOOL, JSON_BOOL, JSON_BOOL };
	char args[64];
	struct json *msg;
	const struct json *info;

	msg = kcall("dma_buf_attachment", RET_OBJECT, ARGS("\"att\":%ld", attach->id));
	info = json_get(msg, "ret");
	expect_fields(info, "the kret of dma_buf_attachment", keys, types, 4, NULL);
	if (json_get(info, "buf")->i != dmabuf->id)
		protocol_error("att%ld belongs to buf%lld, not to buf%ld", attach->id,
			       json_get(info, "buf")->i, dmabuf->id);
	attach->dmabuf = dmabuf;
	attach->peer2peer = json_get(info, "peer2peer")->b;
	attach->importer_ops = NULL;
	if (json_get(info, "dynamic")->b)
		attach->importer_ops = &remote_ops[attach->peer2peer]
						  [json_get(info, "invalidate_mappings")->b];
	json_free(msg);
}

/*
 * The attachment att of dmabuf, as the exporter sees it: described by the harness the first
 * time the exporter sees it, and again before every .attach (as the core sets
 * attach->peer2peer before it calls the op).
 */
static struct dma_buf_attachment *exporter_att(struct dma_buf *dmabuf, long id, bool refresh)
{
	struct dma_buf_attachment *attach = obj_find(OBJ_ATT, id);

	if (!attach) {
		attach = att_new(id);
		refresh = true;
	}
	if (refresh)
		att_refresh(attach, dmabuf);
	return attach;
}

static void exporter_call(const struct call_args *a, struct reply *r)
{
	const struct dma_buf_ops *ops = exporter->ops;
	const struct dma_buf_exporter_actions *act = exporter->actions;
	struct dma_buf *dmabuf = obj_find(OBJ_BUF, a->buf);
	struct iosys_map map = { 0 };
	const char *fn = a->fn;

	if (!strcmp(fn, "new")) {
		static const char *const op_names[] = { "attach", "detach", "pin", "unpin",
			"map_dma_buf", "unmap_dma_buf", "vmap", "vunmap", "mmap", "release" };
		const bool set[] = { ops->attach, ops->detach, ops->pin, ops->unpin,
			ops->map_dma_buf, ops->unmap_dma_buf, ops->vmap, ops->vunmap, ops->mmap,
			ops->release };
		bool first = true;
		size_t k;

		if (dmabuf && dmabuf->exporter_instance)
			protocol_error("new for buf%ld, which exists already", a->buf);
		dmabuf = buf_get(a->buf);
		dmabuf->exporter_instance = true;
		dmabuf->ops = ops;
		if (act && act->create) {
			int err = act->create(dmabuf);

			if (err)
				driver_error("create of buf%ld failed: %d", a->buf, err);
		}
		r->kind = REPLY_RAW;
		sb_puts(&r->raw, "[");
		for (k = 0; k < sizeof(set) / sizeof(set[0]); k++)
			if (set[k]) {
				if (!first)
					sb_puts(&r->raw, ",");
				sb_str(&r->raw, op_names[k]);
				first = false;
			}
		sb_puts(&r->raw, "]");
		return;
	}
	if (!dmabuf || !dmabuf->exporter_instance)
		protocol_error("call %s for buf%ld, which was never created (\"new\")", fn, a->buf);

	r->kind = REPLY_NULL;
	if (!strcmp(fn, "attach")) {
		struct dma_buf_attachment *attach = exporter_att(dmabuf, a->att, true);

		r->kind = REPLY_INT;
		r->i = ops->attach ? ops->attach(dmabuf, attach) : 0;
	} else if (!strcmp(fn, "detach")) {
		if (ops->detach)
			ops->detach(dmabuf, exporter_att(dmabuf, a->att, false));
	} else if (!strcmp(fn, "pin")) {
		r->kind = REPLY_INT;
		r->i = ops->pin ? ops->pin(exporter_att(dmabuf, a->att, false)) : 0;
	} else if (!strcmp(fn, "unpin")) {
		if (ops->unpin)
			ops->unpin(exporter_att(dmabuf, a->att, false));
	} else if (!strcmp(fn, "map_dma_buf")) {
		struct sg_table *sgt;

		if (!ops->map_dma_buf)
			driver_error("map_dma_buf is mandatory");
		sgt = ops->map_dma_buf(exporter_att(dmabuf, a->att, false), DMA_BIDIRECTIONAL);
		if (!sgt)
			driver_error("map_dma_buf returned NULL (return an ERR_PTR)");
		r->kind = REPLY_INT;
		r->i = IS_ERR(sgt) ? PTR_ERR(sgt) : sgt->id;
	} else if (!strcmp(fn, "unmap_dma_buf")) {
		if (!ops->unmap_dma_buf)
			driver_error("unmap_dma_buf is mandatory");
		ops->unmap_dma_buf(exporter_att(dmabuf, a->att, false), sgt_get(a->sgt),
				   DMA_BIDIRECTIONAL);
	} else if (!strcmp(fn, "vmap")) {
		r->kind = REPLY_INT;
		r->i = ops->vmap ? ops->vmap(dmabuf, &map) : -EINVAL;
	} else if (!strcmp(fn, "vunmap")) {
		if (ops->vunmap)
			ops->vunmap(dmabuf, &map);
	} else if (!strcmp(fn, "mmap")) {
		r->kind = REPLY_INT;
		r->i = ops->mmap ? ops->mmap(dmabuf, NULL) : -EINVAL;
	} else if (!strcmp(fn, "release")) {
		if (ops->release)
			ops->release(dmabuf);
	} else if (!strcmp(fn, "export")) {
		r->kind = REPLY_INT;
		r->i = act && act->export ? act->export(dmabuf) : dma_buf_export(dmabuf);
	} else if (!strcmp(fn, "revoke")) {
		if (act && act->revoke)
			act->revoke(dmabuf);
	} else if (!strcmp(fn, "restore")) {
		if (act && act->restore)
			act->restore(dmabuf);
	} else if (!strcmp(fn, "move_buffer")) {
		if (act && act->move_buffer)
			act->move_buffer(dmabuf);
	} else if (!strcmp(fn, "reclaim")) {
		if (act && act->reclaim)
			act->reclaim(dmabuf);
		else
			reclaim_memory(dmabuf);
	} else if (!strcmp(fn, "add_own_fence")) {
		if (act && act->add_own_fence) {
			act->add_own_fence(dmabuf, a->usage, a->completes);
		} else {
			struct dma_fence *fence;

			dma_resv_lock(dmabuf->resv, NULL);
			fence = dma_fence_create(a->completes);
			dma_resv_add_fence(dmabuf->resv, fence, a->usage);
			dma_resv_unlock(dmabuf->resv);
		}
	} else if (!strcmp(fn, "put")) {
		if (act && act->put)
			act->put(dmabuf);
		else
			dma_buf_put(dmabuf);
	}
}

static void importer_call(const struct call_args *a, struct reply *r)
{
	const struct dma_buf_importer_actions *act = importer->actions;
	struct dma_buf_importer *imp = obj_find(OBJ_IMPORTER, a->att);
	const char *fn = a->fn;

	if (!strcmp(fn, "new")) {
		const struct dma_buf_attach_ops *aops = importer->attach_ops;

		if (imp)
			protocol_error("new for att%ld, which exists already", a->att);
		imp = xcalloc(1, sizeof(*imp));
		imp->dev.id = a->att;
		obj_add(OBJ_IMPORTER, a->att, imp);
		if (act && act->create) {
			int err = act->create(imp);

			if (err)
				driver_error("create of att%ld failed: %d", a->att, err);
		}
		r->kind = REPLY_RAW;
		sb_printf(&r->raw, "{\"allow_peer2peer\":%s,\"invalidate_mappings\":%s}",
			  aops && aops->allow_peer2peer ? "true" : "false",
			  aops && aops->invalidate_mappings ? "true" : "false");
		return;
	}
	if (!imp)
		protocol_error("call %s for att%ld, which was never created (\"new\")", fn, a->att);
	{
		/* WARN_ON() reports against the buffer the importer attached to last. */
		struct dma_buf_attachment *attach = obj_find(OBJ_ATT, a->att);

		if (attach && attach->dmabuf)
			current_buf = attach->dmabuf->id;
	}

	r->kind = REPLY_NULL;
	if (!strcmp(fn, "invalidate_mappings")) {
		struct dma_buf_attachment *attach = obj_find(OBJ_ATT, a->att);

		if (!attach || !attach->importer_ops || !attach->importer_ops->invalidate_mappings)
			protocol_error("invalidate_mappings for att%ld, which has no such callback",
				       a->att);
		attach->importer_ops->invalidate_mappings(attach);
	} else if (!strcmp(fn, "attach")) {
		current_buf = a->buf;
		r->kind = REPLY_INT;
		r->i = act && act->attach ? act->attach(imp, buf_get(a->buf)) : 0;
	} else if (!strcmp(fn, "map")) {
		r->kind = REPLY_INT;
		r->i = act && act->map ? act->map(imp) : 0;
	} else if (!strcmp(fn, "access")) {
		if (act && act->access)
			act->access(imp, a->write);
	} else if (!strcmp(fn, "submit")) {
		if (act && act->submit)
			act->submit(imp, a->write);
	} else if (!strcmp(fn, "unmap")) {
		if (act && act->unmap)
			act->unmap(imp);
	} else if (!strcmp(fn, "detach")) {
		if (act && act->detach)
			act->detach(imp);
	} else if (!strcmp(fn, "vmap")) {
		if (act && act->vmap)
			act->vmap(imp);
	} else if (!strcmp(fn, "vmap_hold")) {
		if (act && act->vmap_hold)
			act->vmap_hold(imp);
	} else if (!strcmp(fn, "vunmap")) {
		if (act && act->vunmap)
			act->vunmap(imp);
	}
}

static void handle_call(const struct json *msg)
{
	static const char *const keys[] = { "id", "call", "thread" };
	static const enum json_type types[] = { JSON_INT, JSON_OBJECT, JSON_STRING };
	struct call_args a = { 0 };
	struct reply r = { 0 };
	struct sbuf sb = { 0 };
	long saved_buf = current_buf;
	long long id;

	expect_fields(msg, "a call", keys, types, protocol_version >= 2 ? 3 : 2, "type");
	id = json_get(msg, "id")->i;
	if (id <= last_call_id)
		protocol_error("call id %lld does not increase (last was %lld)", id, last_call_id);
	last_call_id = id;
	decode_call(json_get(msg, "call"), exporter ? exporter_calls : importer_calls, &a);

	call_depth++;
	current_buf = exporter ? a.buf : -1;
	if (exporter)
		exporter_call(&a, &r);
	else
		importer_call(&a, &r);
	current_buf = saved_buf;
	call_depth--;

	sb_printf(&sb, "{\"type\":\"ret\",\"id\":%lld", id);
	sb_thread(&sb);
	sb_puts(&sb, ",\"ret\":");
	switch (r.kind) {
	case REPLY_NULL:
		sb_puts(&sb, "null");
		break;
	case REPLY_INT:
		if (r.i < -MAX_ERRNO)
			driver_error("%s returned %lld, which is not an errno", a.fn, r.i);
		sb_printf(&sb, "%lld", r.i);
		break;
	case REPLY_RAW:
		sb_puts(&sb, r.raw.s);
		free(r.raw.s);
		break;
	}
	sb_puts(&sb, "}");
	send_line(&sb);
}

/* ---------------------------------------------------------------------------------------- */
/* Hello and the session                                                                     */
/* ---------------------------------------------------------------------------------------- */

static void sb_str_list(struct sbuf *sb, const char *const *list)
{
	bool first = true;

	sb_puts(sb, "[");
	for (; list && *list; list++) {
		if (!first)
			sb_puts(sb, ",");
		sb_str(sb, *list);
		first = false;
	}
	sb_puts(sb, "]");
}

static _Noreturn void run(const char *name, const char *role, const char *description,
			  const char *const *plays, const char *const *capabilities,
			  const char *version)
{
	const struct json *versions;
	struct sbuf sb = { 0 };
	const char *type;
	struct json *msg;
	int chosen = 0;
	size_t k;

	shim_name = name ? name : "shim";
	/* The process's own thread is scenario thread main, and runs first. */
	snprintf(threads[0].name, sizeof(threads[0].name), "main");
	nthreads = 1;
	running = me = &threads[0];
	/* A harness that went away must not kill us silently in the middle of a line. */
	signal(SIGPIPE, SIG_IGN);

	msg = read_message(&type);
	if (!msg)
		exit(0);
	if (strcmp(type, "hello"))
		protocol_error("expected hello first, got \"%s\"", type);
	versions = json_get(msg, "versions");
	if (!versions || versions->type != JSON_ARRAY)
		protocol_error("the harness's hello needs an array \"versions\"");
	for (k = 0; k < versions->n; k++) {
		if (versions->items[k].type != JSON_INT)
			protocol_error("\"versions\" must hold integers");
		if (versions->items[k].i >= 1 && versions->items[k].i <= SHIM_PROTOCOL_VERSION &&
		    versions->items[k].i > chosen)
			chosen = (int)versions->items[k].i;
	}
	if (!chosen) {
		struct sbuf list = { 0 };

		for (k = 0; k < versions->n; k++)
			sb_printf(&list, "%s%lld", k ? ", " : "", versions->items[k].i);
		fatal("version mismatch",
		      "the harness speaks protocol versions [%s]; this shim speaks versions 1 to %d",
		      list.s ? list.s : "", SHIM_PROTOCOL_VERSION);
	}
	json_free(msg);
	protocol_version = chosen;

	sb_printf(&sb, "{\"type\":\"hello\",\"version\":%d,\"name\":", protocol_version);
	sb_str(&sb, shim_name);
	sb_puts(&sb, ",\"role\":");
	sb_str(&sb, role);
	sb_puts(&sb, ",\"plays\":");
	sb_str_list(&sb, plays);
	sb_puts(&sb, ",\"capabilities\":");
	sb_str_list(&sb, capabilities);
	if (description) {
		sb_puts(&sb, ",\"description\":");
		sb_str(&sb, description);
	}
	if (version) {
		sb_puts(&sb, ",\"shim_version\":");
		sb_str(&sb, version);
	}
	sb_puts(&sb, "}");
	send_line(&sb);

	serve(0);
	exit(0);
}

_Noreturn void shim_run_exporter(const struct shim_exporter *shim)
{
	if (!shim || !shim->ops)
		driver_error("shim_run_exporter() needs a shim with an ops table");
	exporter = shim;
	run(shim->name, "exporter", shim->description, shim->plays, shim->capabilities,
	    shim->version);
}

_Noreturn void shim_run_importer(const struct shim_importer *shim)
{
	if (!shim)
		driver_error("shim_run_importer() needs a shim");
	importer = shim;
	run(shim->name, "importer", shim->description, shim->plays, shim->capabilities,
	    shim->version);
}
