/*
 * ptx_parse.c - parses a PTX module (the text nvcc -ptx writes) once into
 * pre-decoded instruction arrays: typed op codes, register-file slot indices,
 * constants in slots, resolved labels and symbol addresses. Every opcode or
 * modifier combination the executor does not implement is refused here,
 * naming the PTX line.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptx_int.h"

/* ---------- tokens ---------- */

enum { TK_EOF, TK_ID, TK_NUM, TK_STR, TK_PUNCT };

typedef struct tok {
	int kind;
	int line;
	const char *s;
	int len;
} tok;

typedef struct lexer {
	tok *t;
	int n, cap, i;
} lexer;

static int lex(lexer *L, const char *p)
{
	int line = 1;
	for (;;) {
		while (*p && isspace((unsigned char)*p)) {
			if (*p == '\n')
				line++;
			p++;
		}
		if (!*p)
			break;
		if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			p += 2;
			while (*p && !(p[0] == '*' && p[1] == '/')) {
				if (*p == '\n')
					line++;
				p++;
			}
			if (*p)
				p += 2;
			continue;
		}
		if (L->n == L->cap) {
			L->cap = L->cap ? 2 * L->cap : 4096;
			tok *nt = realloc(L->t, L->cap * sizeof *nt);
			if (!nt)
				return -1;
			L->t = nt;
		}
		tok *t = &L->t[L->n++];
		t->line = line;
		t->s = p;
		unsigned char c = (unsigned char)*p;
		if (isalpha(c) || c == '_' || c == '$' || c == '%' || c == '.') {
			while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || *p == '%' || *p == '.'))
				p++;
			t->kind = TK_ID;
		} else if (isdigit(c)) {
			while (*p && (isalnum((unsigned char)*p) || *p == '.'))
				p++;
			t->kind = TK_NUM;
		} else if (c == '"') {
			p++;
			while (*p && *p != '"' && *p != '\n')
				p++;
			if (*p == '"')
				p++;
			t->kind = TK_STR;
		} else {
			p++;
			t->kind = TK_PUNCT;
		}
		t->len = (int)(p - t->s);
	}
	if (L->n == L->cap) {
		tok *nt = realloc(L->t, (L->cap + 1) * sizeof *nt);
		if (!nt)
			return -1;
		L->t = nt;
	}
	L->t[L->n].kind = TK_EOF;
	L->t[L->n].line = line;
	L->t[L->n].s = "";
	L->t[L->n].len = 0;
	return 0;
}

/* ---------- parser state ---------- */

typedef struct regdecl {
	char *name; /* "%r" for ranges, full name otherwise */
	int range;  /* number of registers of a %name<N> declaration, 0 for one */
	uint32_t base;
	int depth;
} regdecl;

typedef struct cnst {
	uint64_t bits;
	int sym; /* -1: plain value; otherwise index into P->syms, bits = offset */
} cnst;

typedef struct symref {
	char *name;
	int space;
	size_t off;   /* address in its space (shared/local offset); globals: host */
	int is_dyn;   /* extern .shared */
	int defined;
} symref;

typedef struct label {
	char *name;
	int pc;
} label;

typedef struct fixup {
	int pc;
	char *name;
	int line;
} fixup;

typedef struct parser {
	lexer L;
	char *err;
	size_t errlen;
	int failed;
	ptx_module *m;
	/* module-scope shared declarations (placed into a kernel when used) */
	ptx_var *mshared;
	int nmshared;
	/* current kernel */
	ptx_kernel *k;
	regdecl *regs;
	int nregs, capregs;
	uint32_t nreg_slots;
	cnst *consts;
	int nconsts, capconsts;
	symref *syms;
	int nsyms, capsyms;
	label *labels;
	int nlabels, caplabels;
	fixup *fix;
	int nfix, capfix;
	int depth;
	char **pnames;
	int npnames;
	int capcode;
} parser;

#define CONST_FLAG 0x80000000u

static void perr(parser *P, int line, const char *fmt, ...)
{
	if (P->failed)
		return;
	P->failed = 1;
	int n = snprintf(P->err, P->errlen, "ptx line %d: ", line);
	if (n < 0 || (size_t)n >= P->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(P->err + n, P->errlen - n, fmt, ap);
	va_end(ap);
}

static void *grow(void *p, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return p;
	int nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(p, (size_t)nc * elem);
	if (!np) {
		fprintf(stderr, "cudaemu: out of memory parsing PTX\n");
		abort();
	}
	*cap = nc;
	return np;
}

static char *tokdup(const tok *t)
{
	char *s = malloc(t->len + 1);
	if (!s)
		abort();
	memcpy(s, t->s, t->len);
	s[t->len] = 0;
	return s;
}

static int teq(const tok *t, const char *s)
{
	return (int)strlen(s) == t->len && memcmp(t->s, s, t->len) == 0;
}

static tok *peek(parser *P) { return &P->L.t[P->L.i]; }
static tok *next(parser *P)
{
	tok *t = &P->L.t[P->L.i];
	if (t->kind != TK_EOF)
		P->L.i++;
	return t;
}
static int accept(parser *P, const char *s)
{
	if (teq(peek(P), s)) {
		next(P);
		return 1;
	}
	return 0;
}
static void expect(parser *P, const char *s)
{
	tok *t = peek(P);
	if (!teq(t, s)) {
		perr(P, t->line, "expected '%s', found '%.*s'", s, t->len, t->s);
		return;
	}
	next(P);
}

static int parse_int(parser *P, const tok *t, int64_t *v)
{
	char buf[80];
	if (t->kind != TK_NUM || t->len >= (int)sizeof buf) {
		perr(P, t->line, "expected a number, found '%.*s'", t->len, t->s);
		return -1;
	}
	memcpy(buf, t->s, t->len);
	buf[t->len] = 0;
	char *end;
	int len = t->len;
	if (len > 1 && (buf[len - 1] == 'U' || buf[len - 1] == 'u'))
		buf[--len] = 0;
	unsigned long long u = strtoull(buf, &end, 0);
	if (*end) {
		perr(P, t->line, "bad number '%s'", buf);
		return -1;
	}
	*v = (int64_t)u;
	return 0;
}

static int type_of(const tok *t)
{
	static const struct { const char *n; int t; } tab[] = {
		{".b8", T_B8}, {".u8", T_U8}, {".s8", T_S8}, {".b16", T_B16},
		{".u16", T_U16}, {".s16", T_S16}, {".b32", T_B32}, {".u32", T_U32},
		{".s32", T_S32}, {".b64", T_B64}, {".u64", T_U64}, {".s64", T_S64},
		{".f16", T_F16}, {".bf16", T_BF16}, {".f32", T_F32}, {".f64", T_F64},
		{".pred", T_PRED}, {".f16x2", T_F16X2}, {".bf16x2", T_BF16X2},
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (teq(t, tab[i].n))
			return tab[i].t;
	return T_NONE;
}

static size_t type_size(int t)
{
	switch (t) {
	case T_B8: case T_U8: case T_S8: return 1;
	case T_B16: case T_U16: case T_S16: case T_F16: case T_BF16: return 2;
	case T_B32: case T_U32: case T_S32: case T_F32: case T_F16X2: case T_BF16X2: return 4;
	case T_B64: case T_U64: case T_S64: case T_F64: return 8;
	case T_PRED: return 1;
	}
	return 0;
}

/* ---------- registers, constants, symbols ---------- */

static void declare_reg(parser *P, const tok *t, int range, int line)
{
	for (int i = P->nregs - 1; i >= 0 && P->regs[i].depth == P->depth; i--) {
		if ((int)strlen(P->regs[i].name) == t->len && memcmp(P->regs[i].name, t->s, t->len) == 0) {
			perr(P, line, "register '%.*s' declared twice", t->len, t->s);
			return;
		}
	}
	P->regs = grow(P->regs, &P->capregs, P->nregs + 1, sizeof *P->regs);
	regdecl *r = &P->regs[P->nregs++];
	r->name = tokdup(t);
	r->range = range;
	r->base = P->nreg_slots;
	r->depth = P->depth;
	P->nreg_slots += range ? (uint32_t)range : 1;
}

static const struct { const char *n; int slot; } specials[] = {
	{"%tid.x", SLOT_TID_X}, {"%tid.y", SLOT_TID_Y}, {"%tid.z", SLOT_TID_Z},
	{"%ntid.x", SLOT_NTID_X}, {"%ntid.y", SLOT_NTID_Y}, {"%ntid.z", SLOT_NTID_Z},
	{"%ctaid.x", SLOT_CTAID_X}, {"%ctaid.y", SLOT_CTAID_Y}, {"%ctaid.z", SLOT_CTAID_Z},
	{"%nctaid.x", SLOT_NCTAID_X}, {"%nctaid.y", SLOT_NCTAID_Y}, {"%nctaid.z", SLOT_NCTAID_Z},
	{"%laneid", SLOT_LANEID}, {"%warpid", SLOT_WARPID}, {"%nwarpid", SLOT_NWARPID},
	{"%lanemask_eq", SLOT_LANEMASK_EQ}, {"%lanemask_lt", SLOT_LANEMASK_LT},
	{"%lanemask_le", SLOT_LANEMASK_LE}, {"%lanemask_gt", SLOT_LANEMASK_GT},
	{"%lanemask_ge", SLOT_LANEMASK_GE},
};

/* lookup_reg returns the encoded slot of a register name, or -1. Encoded:
 * specials are their slot; declared registers are (index | 0x40000000). */
#define REG_FLAG 0x40000000u
static int64_t lookup_reg(parser *P, const tok *t)
{
	for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
		if (teq(t, specials[i].n))
			return specials[i].slot;
	for (int i = P->nregs - 1; i >= 0; i--) {
		regdecl *r = &P->regs[i];
		int nl = (int)strlen(r->name);
		if (!r->range) {
			if (nl == t->len && memcmp(r->name, t->s, nl) == 0)
				return REG_FLAG | r->base;
			continue;
		}
		if (t->len <= nl || memcmp(r->name, t->s, nl) != 0)
			continue;
		int ok = 1;
		long v = 0;
		for (int j = nl; j < t->len; j++) {
			if (!isdigit((unsigned char)t->s[j])) {
				ok = 0;
				break;
			}
			v = v * 10 + (t->s[j] - '0');
			if (v > 1 << 24) {
				ok = 0;
				break;
			}
		}
		if (!ok || (t->len > nl + 1 && t->s[nl] == '0'))
			continue;
		if (v < r->range)
			return REG_FLAG | (r->base + (uint32_t)v);
	}
	return -1;
}

static uint32_t add_const(parser *P, uint64_t bits, int sym)
{
	for (int i = 0; i < P->nconsts; i++)
		if (P->consts[i].bits == bits && P->consts[i].sym == sym)
			return CONST_FLAG | (uint32_t)i;
	P->consts = grow(P->consts, &P->capconsts, P->nconsts + 1, sizeof *P->consts);
	P->consts[P->nconsts].bits = bits;
	P->consts[P->nconsts].sym = sym;
	return CONST_FLAG | (uint32_t)P->nconsts++;
}

static int find_sym(parser *P, const char *name, int len)
{
	for (int i = 0; i < P->nsyms; i++)
		if ((int)strlen(P->syms[i].name) == len && memcmp(P->syms[i].name, name, len) == 0)
			return i;
	return -1;
}

/* resolve_sym finds a variable by name for the current kernel: its own
 * .shared/.local variables, then module .shared (placed on first use), then
 * module .global/.const variables. Returns the symref index or -1. */
static size_t align_up(size_t v, size_t a) { return a ? (v + a - 1) / a * a : v; }

static int resolve_sym(parser *P, const tok *t)
{
	int i = find_sym(P, t->s, t->len);
	if (i >= 0)
		return i;
	for (int j = 0; j < P->nmshared; j++) {
		ptx_var *v = &P->mshared[j];
		if ((int)strlen(v->name) != t->len || memcmp(v->name, t->s, t->len) != 0)
			continue;
		P->syms = grow(P->syms, &P->capsyms, P->nsyms + 1, sizeof *P->syms);
		symref *s = &P->syms[P->nsyms];
		s->name = strdup(v->name);
		s->space = SP_SHARED;
		s->is_dyn = v->is_extern;
		s->defined = 1;
		if (!v->is_extern) {
			P->k->static_shared = align_up(P->k->static_shared, v->align);
			s->off = P->k->static_shared;
			P->k->static_shared += v->size;
		} else {
			s->off = 0;
		}
		return P->nsyms++;
	}
	for (int j = 0; j < P->m->nglobals; j++) {
		ptx_var *v = &P->m->globals[j];
		if ((int)strlen(v->name) != t->len || memcmp(v->name, t->s, t->len) != 0)
			continue;
		P->syms = grow(P->syms, &P->capsyms, P->nsyms + 1, sizeof *P->syms);
		symref *s = &P->syms[P->nsyms];
		s->name = strdup(v->name);
		s->space = SP_GLOBAL;
		s->is_dyn = 0;
		s->defined = 1;
		s->off = (size_t)(uintptr_t)v->host;
		return P->nsyms++;
	}
	return -1;
}

/* ---------- operands ---------- */

enum { OK_REG, OK_IMM, OK_FIMM32, OK_FIMM64, OK_ADDR, OK_VEC, OK_SYM, OK_SINK };

typedef struct opnd {
	int kind;
	int line;
	int64_t reg;  /* OK_REG: encoded register; OK_ADDR: base register or -1 */
	int64_t imm;  /* immediate value / float bits / address offset */
	int sym;      /* OK_ADDR, OK_SYM: symref index or -1 */
	int param;    /* OK_ADDR: kernel parameter index or -1 */
	int64_t pred2;/* OK_REG: the '|p' second destination or -1 */
	int nv;
	struct opnd *v;
	tok *t;
} opnd;

static int param_index(parser *P, const tok *t)
{
	for (int i = 0; i < P->k->nparams; i++)
		if ((int)strlen(P->pnames[i]) == t->len && memcmp(P->pnames[i], t->s, t->len) == 0)
			return i;
	return -1;
}

static void init_opnd(opnd *o, tok *t)
{
	memset(o, 0, sizeof *o);
	o->line = t->line;
	o->t = t;
	o->sym = -1;
	o->param = -1;
	o->pred2 = -1;
	o->reg = -1;
}

static void parse_number(parser *P, tok *t, int neg, opnd *o)
{
	if (t->len >= 3 && t->s[0] == '0' && (t->s[1] == 'f' || t->s[1] == 'F' || t->s[1] == 'd' || t->s[1] == 'D')) {
		int is32 = t->s[1] == 'f' || t->s[1] == 'F';
		int want = is32 ? 8 : 16;
		if (t->len != 2 + want) {
			perr(P, t->line, "bad float literal '%.*s'", t->len, t->s);
			return;
		}
		uint64_t v = 0;
		for (int i = 2; i < t->len; i++) {
			int c = t->s[i], d;
			if (c >= '0' && c <= '9') d = c - '0';
			else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
			else {
				perr(P, t->line, "bad float literal '%.*s'", t->len, t->s);
				return;
			}
			v = v << 4 | (uint64_t)d;
		}
		if (neg)
			v ^= is32 ? 0x80000000ull : 0x8000000000000000ull;
		o->kind = is32 ? OK_FIMM32 : OK_FIMM64;
		o->imm = (int64_t)v;
		return;
	}
	int64_t v;
	if (parse_int(P, t, &v))
		return;
	o->kind = OK_IMM;
	o->imm = neg ? -v : v;
}

static void parse_simple(parser *P, opnd *o)
{
	tok *t = next(P);
	init_opnd(o, t);
	int neg = 0;
	if (teq(t, "-")) {
		neg = 1;
		t = next(P);
	}
	if (t->kind == TK_NUM) {
		parse_number(P, t, neg, o);
		return;
	}
	if (neg || t->kind != TK_ID) {
		perr(P, t->line, "bad operand '%.*s'", t->len, t->s);
		return;
	}
	if (teq(t, "_")) {
		o->kind = OK_SINK;
		return;
	}
	int64_t named = t->s[0] == '%' ? -1 : lookup_reg(P, t);
	if (t->s[0] == '%' || named >= 0) {
		int64_t r = named >= 0 ? named : lookup_reg(P, t);
		if (r < 0) {
			perr(P, t->line, "undeclared register '%.*s'", t->len, t->s);
			return;
		}
		o->kind = OK_REG;
		o->reg = r;
		if (accept(P, "|")) {
			tok *t2 = next(P);
			int64_t r2 = lookup_reg(P, t2);
			if (r2 < 0) {
				perr(P, t2->line, "undeclared register '%.*s'", t2->len, t2->s);
				return;
			}
			o->pred2 = r2;
		}
		return;
	}
	o->kind = OK_SYM;
	o->sym = resolve_sym(P, t);
}

static void parse_operand(parser *P, opnd *o)
{
	tok *t = peek(P);
	if (teq(t, "{")) {
		next(P);
		init_opnd(o, t);
		o->kind = OK_VEC;
		o->v = calloc(8, sizeof *o->v);
		if (!o->v)
			abort();
		while (!P->failed) {
			if (o->nv == 8) {
				perr(P, t->line, "vector operand too long");
				return;
			}
			parse_simple(P, &o->v[o->nv++]);
			if (accept(P, "}"))
				break;
			expect(P, ",");
		}
		return;
	}
	if (teq(t, "[")) {
		next(P);
		init_opnd(o, t);
		o->kind = OK_ADDR;
		tok *b = next(P);
		if (b->kind == TK_NUM) {
			int64_t v;
			if (parse_int(P, b, &v) == 0)
				o->imm = v;
		} else if (b->kind == TK_ID && b->s[0] == '%') {
			o->reg = lookup_reg(P, b);
			if (o->reg < 0) {
				perr(P, b->line, "undeclared register '%.*s'", b->len, b->s);
				return;
			}
		} else if (b->kind == TK_ID) {
			o->param = param_index(P, b);
			if (o->param < 0) {
				o->sym = resolve_sym(P, b);
				if (o->sym < 0) {
					perr(P, b->line, "unknown symbol '%.*s'", b->len, b->s);
					return;
				}
			}
		} else {
			perr(P, b->line, "bad address '%.*s'", b->len, b->s);
			return;
		}
		if (accept(P, "+")) {
			int neg = accept(P, "-");
			int64_t v;
			if (parse_int(P, next(P), &v) == 0)
				o->imm += neg ? -v : v;
		} else if (accept(P, "-")) {
			int64_t v;
			if (parse_int(P, next(P), &v) == 0)
				o->imm -= v;
		}
		expect(P, "]");
		return;
	}
	parse_simple(P, o);
}

static void free_opnd(opnd *o)
{
	if (o->kind == OK_VEC)
		free(o->v);
}

/* ---------- encoding operands into slots ---------- */


static uint32_t enc_src(parser *P, opnd *o, int ty)
{
	uint64_t bits;
	switch (o->kind) {
	case OK_REG:
		if (o->pred2 >= 0)
			perr(P, o->line, "'|' is only allowed in a destination");
		return (uint32_t)o->reg;
	case OK_IMM:
		if (ty == T_F32) {
			float f = (float)o->imm;
			uint32_t u;
			memcpy(&u, &f, 4);
			bits = u;
		} else if (ty == T_F64) {
			double f = (double)o->imm;
			memcpy(&bits, &f, 8);
		} else {
			bits = (uint64_t)o->imm;
		}
		return add_const(P, bits, -1);
	case OK_FIMM32:
		if (ty == T_F64) {
			uint32_t u = (uint32_t)o->imm;
			float f;
			memcpy(&f, &u, 4);
			double d = f;
			memcpy(&bits, &d, 8);
		} else if (ty == T_F32 || ty == T_B32) {
			bits = (uint32_t)o->imm;
		} else {
			perr(P, o->line, "a 0f float literal for a non-float operand");
			return 0;
		}
		return add_const(P, bits, -1);
	case OK_FIMM64:
		if (ty == T_F32) {
			uint64_t u = (uint64_t)o->imm;
			double d;
			memcpy(&d, &u, 8);
			float f = (float)d;
			uint32_t v;
			memcpy(&v, &f, 4);
			bits = v;
		} else if (ty == T_F64 || ty == T_B64) {
			bits = (uint64_t)o->imm;
		} else {
			perr(P, o->line, "a 0d float literal for a non-float operand");
			return 0;
		}
		return add_const(P, bits, -1);
	case OK_SYM:
		if (o->sym < 0) {
			perr(P, o->line, "unknown symbol '%.*s'", o->t->len, o->t->s);
			return 0;
		}
		return add_const(P, 0, o->sym);
	default:
		perr(P, o->line, "bad source operand");
		return 0;
	}
}

static uint32_t enc_dst(parser *P, opnd *o)
{
	if (o->kind == OK_SINK)
		return SLOT_SINK;
	if (o->kind != OK_REG || o->pred2 >= 0) {
		perr(P, o->line, "destination must be a register");
		return SLOT_SINK;
	}
	if (!(o->reg & REG_FLAG)) {
		perr(P, o->line, "special registers are read-only");
		return SLOT_SINK;
	}
	return (uint32_t)o->reg;
}

/* enc_addr: the base slot and offset of an address operand in space sp. */
static void enc_addr(parser *P, opnd *o, int sp, insn *in)
{
	if (o->kind != OK_ADDR) {
		perr(P, o->line, "expected an address [..]");
		return;
	}
	if (sp == SP_PARAM) {
		if (o->param < 0) {
			perr(P, o->line, "ld.param needs a kernel parameter");
			return;
		}
		in->a = add_const(P, 0, -1);
		in->off = (int64_t)P->k->poff[o->param] + o->imm;
		return;
	}
	if (o->param >= 0) {
		perr(P, o->line, "a kernel parameter used outside ld.param");
		return;
	}
	if (o->sym >= 0) {
		symref *s = &P->syms[o->sym];
		if (s->space != sp) {
			perr(P, o->line, "'%s' is not in the state space of this instruction", s->name);
			return;
		}
		in->a = add_const(P, 0, o->sym);
	} else if (o->reg >= 0) {
		in->a = (uint32_t)o->reg;
	} else {
		in->a = add_const(P, 0, -1);
	}
	in->off = o->imm;
}

/* ---------- the opcode table ---------- */

enum {
	P_D_A, P_D_AB, P_D_ABC, P_D_ABCE, P_SETP, P_SELP, P_LD, P_ST, P_ATOM,
	P_BRA, P_NONE, P_BAR, P_SHFL, P_VOTE, P_MOV, P_CVT, P_SHIFT, P_MMA, P_LDMATRIX,
	P_CPASYNC, P_WAITG, P_WSYNC
};

typedef struct opform {
	char name[72];
	uint16_t op;
	uint8_t pat, ty, ty2, rm, flags, sub, size, nvec, space;
} opform;

static opform *forms;
static int nforms, capforms;

static void addf(const char *name, int op, int pat, int ty, int ty2, int rm, int flags, int sub, int size, int nvec, int space)
{
	forms = grow(forms, &capforms, nforms + 1, sizeof *forms);
	opform *f = &forms[nforms++];
	if (strlen(name) >= sizeof f->name)
		abort(); /* a form name longer than the table holds: a build error */
	snprintf(f->name, sizeof f->name, "%s", name);
	f->op = (uint16_t)op;
	f->pat = (uint8_t)pat;
	f->ty = (uint8_t)ty;
	f->ty2 = (uint8_t)ty2;
	f->rm = (uint8_t)rm;
	f->flags = (uint8_t)flags;
	f->sub = (uint8_t)sub;
	f->size = (uint8_t)size;
	f->nvec = (uint8_t)nvec;
	f->space = (uint8_t)space;
}

static void add1(const char *name, int op, int pat, int ty)
{
	addf(name, op, pat, ty, 0, RM_RN, 0, 0, 0, 1, 0);
}

static const char *tname(int t)
{
	static const char *n[] = {"", "b8", "u8", "s8", "b16", "u16", "s16", "b32", "u32", "s32",
	                          "b64", "u64", "s64", "f16", "bf16", "f32", "f64", "pred", "f16x2", "bf16x2"};
	return n[t];
}

static int cmpform(const void *a, const void *b)
{
	return strcmp(((const opform *)a)->name, ((const opform *)b)->name);
}

static int is_signed(int t) { return t == T_S8 || t == T_S16 || t == T_S32 || t == T_S64; }
static int is_int(int t)
{
	return t == T_U8 || t == T_S8 || t == T_U16 || t == T_S16 || t == T_U32 || t == T_S32 ||
	       t == T_U64 || t == T_S64 || t == T_B8 || t == T_B16 || t == T_B32 || t == T_B64;
}

static void build_forms(void)
{
	char b[64];
	/* integer arithmetic */
	static const struct { const char *n; int o16, o32, o64; int sgn; } ar[] = {
		{"add", OP_ADD16, OP_ADD32, OP_ADD64, 2},
		{"sub", OP_SUB16, OP_SUB32, OP_SUB64, 2},
		{"mul.lo", OP_MULLO16, OP_MULLO32, OP_MULLO64, 2},
	};
	for (size_t i = 0; i < 3; i++) {
		int ts[] = {T_S16, T_U16, T_S32, T_U32, T_S64, T_U64};
		for (int j = 0; j < 6; j++) {
			int t = ts[j];
			snprintf(b, sizeof b, "%s.%s", ar[i].n, tname(t));
			add1(b, type_size(t) == 2 ? ar[i].o16 : type_size(t) == 4 ? ar[i].o32 : ar[i].o64, P_D_AB, t);
		}
	}
	add1("mul.hi.s32", OP_MULHI_S32, P_D_AB, T_S32);
	add1("mul.hi.u32", OP_MULHI_U32, P_D_AB, T_U32);
	add1("mul.wide.s32", OP_MULWIDE_S32, P_D_AB, T_S32);
	add1("mul.wide.u32", OP_MULWIDE_U32, P_D_AB, T_U32);
	add1("mul.wide.s16", OP_MULWIDE_S16, P_D_AB, T_S16);
	add1("mul.wide.u16", OP_MULWIDE_U16, P_D_AB, T_U16);
	add1("mad.lo.s32", OP_MADLO32, P_D_ABC, T_S32);
	add1("mad.lo.u32", OP_MADLO32, P_D_ABC, T_U32);
	add1("mad.lo.s64", OP_MADLO64, P_D_ABC, T_S64);
	add1("mad.lo.u64", OP_MADLO64, P_D_ABC, T_U64);
	add1("mad.wide.s32", OP_MADWIDE_S32, P_D_ABC, T_S32);
	add1("mad.wide.u32", OP_MADWIDE_U32, P_D_ABC, T_U32);
	static const struct { const char *n; int t, op; } simple[] = {
		{"div.s32", T_S32, OP_DIV_S32}, {"div.u32", T_U32, OP_DIV_U32},
		{"div.s64", T_S64, OP_DIV_S64}, {"div.u64", T_U64, OP_DIV_U64},
		{"rem.s32", T_S32, OP_REM_S32}, {"rem.u32", T_U32, OP_REM_U32},
		{"rem.s64", T_S64, OP_REM_S64}, {"rem.u64", T_U64, OP_REM_U64},
		{"min.s32", T_S32, OP_MIN_S32}, {"min.u32", T_U32, OP_MIN_U32},
		{"max.s32", T_S32, OP_MAX_S32}, {"max.u32", T_U32, OP_MAX_U32},
		{"min.s64", T_S64, OP_MIN_S64}, {"min.u64", T_U64, OP_MIN_U64},
		{"max.s64", T_S64, OP_MAX_S64}, {"max.u64", T_U64, OP_MAX_U64},
		{"and.b16", T_B16, OP_AND16}, {"and.b32", T_B32, OP_AND32}, {"and.b64", T_B64, OP_AND64},
		{"or.b16", T_B16, OP_OR16}, {"or.b32", T_B32, OP_OR32}, {"or.b64", T_B64, OP_OR64},
		{"xor.b16", T_B16, OP_XOR16}, {"xor.b32", T_B32, OP_XOR32}, {"xor.b64", T_B64, OP_XOR64},
		{"and.pred", T_PRED, OP_ANDP}, {"or.pred", T_PRED, OP_ORP}, {"xor.pred", T_PRED, OP_XORP},
		{"add.f32", T_F32, OP_FADD32}, {"sub.f32", T_F32, OP_FSUB32}, {"mul.f32", T_F32, OP_FMUL32},
		{"add.rn.f32", T_F32, OP_FADD32}, {"sub.rn.f32", T_F32, OP_FSUB32}, {"mul.rn.f32", T_F32, OP_FMUL32},
		{"div.rn.f32", T_F32, OP_FDIV32}, {"min.f32", T_F32, OP_FMIN32}, {"max.f32", T_F32, OP_FMAX32},
		{"add.f64", T_F64, OP_FADD64}, {"sub.f64", T_F64, OP_FSUB64}, {"mul.f64", T_F64, OP_FMUL64},
		{"add.rn.f64", T_F64, OP_FADD64}, {"sub.rn.f64", T_F64, OP_FSUB64}, {"mul.rn.f64", T_F64, OP_FMUL64},
		{"div.rn.f64", T_F64, OP_FDIV64}, {"min.f64", T_F64, OP_FMIN64}, {"max.f64", T_F64, OP_FMAX64},
	};
	for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
		add1(simple[i].n, simple[i].op, P_D_AB, simple[i].t);
	static const struct { const char *n; int t, op; } un[] = {
		{"neg.s32", T_S32, OP_NEG32}, {"neg.s64", T_S64, OP_NEG64},
		{"abs.s32", T_S32, OP_ABS32}, {"abs.s64", T_S64, OP_ABS64},
		{"not.b16", T_B16, OP_NOT16}, {"not.b32", T_B32, OP_NOT32}, {"not.b64", T_B64, OP_NOT64},
		{"not.pred", T_PRED, OP_NOTP},
		{"popc.b32", T_B32, OP_POPC32}, {"popc.b64", T_B64, OP_POPC64},
		{"clz.b32", T_B32, OP_CLZ32}, {"clz.b64", T_B64, OP_CLZ64}, {"brev.b32", T_B32, OP_BREV32},
		{"neg.f32", T_F32, OP_FNEG32}, {"abs.f32", T_F32, OP_FABS32},
		{"rcp.rn.f32", T_F32, OP_FRCP32}, {"sqrt.rn.f32", T_F32, OP_FSQRT32},
		{"neg.f64", T_F64, OP_FNEG64}, {"abs.f64", T_F64, OP_FABS64},
		{"rcp.rn.f64", T_F64, OP_FRCP64}, {"sqrt.rn.f64", T_F64, OP_FSQRT64},
		{"rcp.approx.ftz.f64", T_F64, OP_RCP_APPROX_FTZ64},
		{"cvta.to.global.u64", T_U64, OP_MOV}, {"cvta.global.u64", T_U64, OP_MOV},
	};
	for (size_t i = 0; i < sizeof un / sizeof un[0]; i++)
		add1(un[i].n, un[i].op, P_D_A, un[i].t);
	static const struct { const char *n; int op; } approx[] = {
		{"rcp.approx", OP_FRCP_APPROX32}, {"sqrt.approx", OP_FSQRT_APPROX32},
		{"rsqrt.approx", OP_FRSQRT_APPROX32}, {"ex2.approx", OP_EX2_APPROX32},
		{"lg2.approx", OP_LG2_APPROX32}, {"sin.approx", OP_SIN_APPROX32},
		{"cos.approx", OP_COS_APPROX32},
	};
	for (size_t i = 0; i < sizeof approx / sizeof approx[0]; i++) {
		snprintf(b, sizeof b, "%s.f32", approx[i].n);
		add1(b, approx[i].op, P_D_A, T_F32);
		snprintf(b, sizeof b, "%s.ftz.f32", approx[i].n);
		addf(b, approx[i].op, P_D_A, T_F32, 0, RM_RN, F_FTZ, 0, 0, 1, 0);
	}
	add1("tanh.approx.f32", OP_TANH_APPROX32, P_D_A, T_F32);
	addf("neg.ftz.f32", OP_FNEG32, P_D_A, T_F32, 0, RM_RN, F_FTZ, 0, 0, 1, 0);
	addf("abs.ftz.f32", OP_FABS32, P_D_A, T_F32, 0, RM_RN, F_FTZ, 0, 0, 1, 0);
	add1("fma.rn.f32", OP_FFMA32, P_D_ABC, T_F32);
	add1("fma.rn.f64", OP_FFMA64, P_D_ABC, T_F64);
	/* f32 add/sub/mul/fma with other rounding, ftz or sat: the slow path */
	static const char *rms[] = {"rn", "rz", "rm", "rp"};
	static const char *fops[] = {"add", "sub", "mul", "fma"};
	for (int o = 0; o < 4; o++)
		for (int r = -1; r < 4; r++)
			for (int ftz = 0; ftz < 2; ftz++)
				for (int sat = 0; sat < 2; sat++) {
					if (o == 3 && r < 0)
						continue;
					if ((r <= 0) && !ftz && !sat)
						continue; /* the fast forms above */
					snprintf(b, sizeof b, "%s%s%s%s%s.f32", fops[o], r >= 0 ? "." : "", r >= 0 ? rms[r] : "",
					         ftz ? ".ftz" : "", sat ? ".sat" : "");
					addf(b, OP_FARITH32_DIR, o == 3 ? P_D_ABC : P_D_AB, T_F32, 0, r < 0 ? RM_RN : r,
					     (ftz ? F_FTZ : 0) | (sat ? F_SAT : 0), o, 0, 1, 0);
				}
	for (int o = 0; o < 4; o++)
		for (int r = 1; r < 4; r++) {
			snprintf(b, sizeof b, "%s.%s.f64", fops[o], rms[r]);
			addf(b, OP_FARITH64_DIR, o == 3 ? P_D_ABC : P_D_AB, T_F64, 0, r, 0, o, 0, 1, 0);
		}
	/* shifts and bit fields */
	add1("shl.b16", OP_SHL16, P_SHIFT, T_B16);
	add1("shl.b32", OP_SHL32, P_SHIFT, T_B32);
	add1("shl.b64", OP_SHL64, P_SHIFT, T_B64);
	add1("shr.u16", OP_SHR_U16, P_SHIFT, T_U16);
	add1("shr.b16", OP_SHR_U16, P_SHIFT, T_B16);
	add1("shr.s16", OP_SHR_S16, P_SHIFT, T_S16);
	add1("shr.u32", OP_SHR_U32, P_SHIFT, T_U32);
	add1("shr.b32", OP_SHR_U32, P_SHIFT, T_B32);
	add1("shr.s32", OP_SHR_S32, P_SHIFT, T_S32);
	add1("shr.u64", OP_SHR_U64, P_SHIFT, T_U64);
	add1("shr.b64", OP_SHR_U64, P_SHIFT, T_B64);
	add1("shr.s64", OP_SHR_S64, P_SHIFT, T_S64);
	add1("bfi.b32", OP_BFI32, P_D_ABCE, T_B32);
	add1("bfi.b64", OP_BFI64, P_D_ABCE, T_B64);
	add1("bfe.u32", OP_BFE_U32, P_D_ABC, T_U32);
	add1("bfe.s32", OP_BFE_S32, P_D_ABC, T_S32);
	/* selp, setp */
	int selts[] = {T_B16, T_U16, T_S16, T_B32, T_U32, T_S32, T_F32, T_B64, T_U64, T_S64, T_F64};
	for (int i = 0; i < 11; i++) {
		snprintf(b, sizeof b, "selp.%s", tname(selts[i]));
		add1(b, OP_SELP, P_SELP, selts[i]);
	}
	static const char *icmp[] = {"eq", "ne", "lt", "le", "gt", "ge"};
	static const char *ucmp[] = {"lo", "ls", "hi", "hs"};
	static const char *fcmp[] = {"eq", "ne", "lt", "le", "gt", "ge", "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan"};
	int its[] = {T_S16, T_U16, T_S32, T_U32, T_S64, T_U64};
	int iops[] = {OP_SETP_S16, OP_SETP_U16, OP_SETP_S32, OP_SETP_U32, OP_SETP_S64, OP_SETP_U64};
	for (int i = 0; i < 6; i++) {
		for (int c = 0; c < 6; c++) {
			snprintf(b, sizeof b, "setp.%s.%s", icmp[c], tname(its[i]));
			addf(b, iops[i], P_SETP, its[i], 0, RM_RN, 0, c, 0, 1, 0);
		}
		if (!is_signed(its[i]))
			for (int c = 0; c < 4; c++) {
				snprintf(b, sizeof b, "setp.%s.%s", ucmp[c], tname(its[i]));
				addf(b, iops[i], P_SETP, its[i], 0, RM_RN, 0, CMP_LO + c, 0, 1, 0);
			}
	}
	int bts[] = {T_B16, T_B32, T_B64};
	int bops[] = {OP_SETP_U16, OP_SETP_U32, OP_SETP_U64};
	for (int i = 0; i < 3; i++)
		for (int c = 0; c < 2; c++) {
			snprintf(b, sizeof b, "setp.%s.%s", icmp[c], tname(bts[i]));
			addf(b, bops[i], P_SETP, bts[i], 0, RM_RN, 0, c, 0, 1, 0);
		}
	for (int c = 0; c < 14; c++) {
		snprintf(b, sizeof b, "setp.%s.f32", fcmp[c]);
		addf(b, OP_SETP_F32, P_SETP, T_F32, 0, RM_RN, 0, c, 0, 1, 0);
		snprintf(b, sizeof b, "setp.%s.ftz.f32", fcmp[c]);
		addf(b, OP_SETP_F32, P_SETP, T_F32, 0, RM_RN, F_FTZ, c, 0, 1, 0);
		snprintf(b, sizeof b, "setp.%s.f64", fcmp[c]);
		addf(b, OP_SETP_F64, P_SETP, T_F64, 0, RM_RN, 0, c, 0, 1, 0);
	}
	/* mov */
	int movts[] = {T_B16, T_U16, T_S16, T_B32, T_U32, T_S32, T_F32, T_B64, T_U64, T_S64, T_F64, T_PRED};
	for (int i = 0; i < 12; i++) {
		snprintf(b, sizeof b, "mov.%s", tname(movts[i]));
		add1(b, OP_MOV, P_MOV, movts[i]);
	}
	/* cvt */
	int cts[] = {T_U8, T_S8, T_U16, T_S16, T_U32, T_S32, T_U64, T_S64, T_F16, T_BF16, T_F32, T_F64};
	static const char *irm[] = {"rni", "rzi", "rmi", "rpi"};
	for (int di = 0; di < 12; di++)
		for (int si = 0; si < 12; si++) {
			int d = cts[di], s = cts[si];
			int dfl = !is_int(d), sfl = !is_int(s);
			if (d == T_F16 || d == T_BF16) {
				if (s != T_F32)
					continue;
				for (int r = 0; r < 4; r++)
					for (int sat = 0; sat < 2; sat++) {
						snprintf(b, sizeof b, "cvt.%s%s.%s.%s", rms[r], sat ? ".sat" : "", tname(d), tname(s));
						addf(b, OP_CVT, P_CVT, d, s, r, sat ? F_SAT : 0, 0, 0, 1, 0);
					}
				continue;
			}
			if (s == T_F16 || s == T_BF16) {
				if (d != T_F32)
					continue;
				snprintf(b, sizeof b, "cvt.%s.%s", tname(d), tname(s));
				add1(b, s == T_F16 ? OP_CVT_F32_F16 : OP_CVT_F32_BF16, P_CVT, d);
				forms[nforms - 1].ty2 = (uint8_t)s;
				continue;
			}
			if (!dfl && !sfl) {
				for (int sat = 0; sat < 2; sat++) {
					snprintf(b, sizeof b, "cvt%s.%s.%s", sat ? ".sat" : "", tname(d), tname(s));
					int op = OP_CVT;
					if (!sat && d == T_S64 && s == T_S32) op = OP_CVT_S64_S32;
					if (!sat && d == T_U64 && s == T_U32) op = OP_CVT_U64_U32;
					if (!sat && d == T_U32 && s == T_U64) op = OP_CVT_U32_U64;
					if (!sat && d == T_U16 && s == T_U32) op = OP_CVT_U16_U32;
					addf(b, op, P_CVT, d, s, RM_NONE, sat ? F_SAT : 0, 0, 0, 1, 0);
				}
			} else if (dfl && !sfl) {
				for (int r = 0; r < 4; r++) {
					snprintf(b, sizeof b, "cvt.%s.%s.%s", rms[r], tname(d), tname(s));
					addf(b, OP_CVT, P_CVT, d, s, r, 0, 0, 0, 1, 0);
				}
			} else if (!dfl && sfl) {
				for (int r = 0; r < 4; r++)
					for (int ftz = 0; ftz < 2; ftz++) {
						if (ftz && s != T_F32)
							continue;
						snprintf(b, sizeof b, "cvt.%s%s.%s.%s", irm[r], ftz ? ".ftz" : "", tname(d), tname(s));
						addf(b, OP_CVT, P_CVT, d, s, r, ftz ? F_FTZ : 0, 1, 0, 1, 0);
					}
			} else if (d == s) {
				for (int r = -1; r < 4; r++)
					for (int ftz = 0; ftz < 2; ftz++)
						for (int sat = 0; sat < 2; sat++) {
							if (r < 0 && !sat)
								continue;
							if (ftz && d != T_F32)
								continue;
							snprintf(b, sizeof b, "cvt%s%s%s%s.%s.%s", r >= 0 ? "." : "", r >= 0 ? irm[r] : "",
							         ftz ? ".ftz" : "", sat ? ".sat" : "", tname(d), tname(s));
							int op = (r < 0 && !ftz && d == T_F32) ? OP_CVT_SAT_F32 : OP_CVT;
							addf(b, op, P_CVT, d, s, r < 0 ? RM_NONE : r, (ftz ? F_FTZ : 0) | (sat ? F_SAT : 0), 1, 0, 1, 0);
						}
			} else if (d == T_F64) { /* f32 -> f64: exact */
				for (int ftz = 0; ftz < 2; ftz++) {
					snprintf(b, sizeof b, "cvt%s.f64.f32", ftz ? ".ftz" : "");
					addf(b, OP_CVT, P_CVT, d, s, RM_NONE, ftz ? F_FTZ : 0, 0, 0, 1, 0);
				}
			} else { /* f64 -> f32 */
				for (int r = 0; r < 4; r++)
					for (int ftz = 0; ftz < 2; ftz++)
						for (int sat = 0; sat < 2; sat++) {
							snprintf(b, sizeof b, "cvt.%s%s%s.f32.f64", rms[r], ftz ? ".ftz" : "", sat ? ".sat" : "");
							addf(b, OP_CVT, P_CVT, d, s, r, (ftz ? F_FTZ : 0) | (sat ? F_SAT : 0), 0, 0, 1, 0);
						}
			}
		}
	/* cvt.{rn,rz}.{f16x2,bf16x2}.f32 d, a, b: a to the upper half, b to the lower */
	for (int x = 0; x < 2; x++)
		for (int r = 0; r < 2; r++) {
			snprintf(b, sizeof b, "cvt.%s.%s.f32", rms[r], x ? "bf16x2" : "f16x2");
			addf(b, OP_CVT_X2, P_CVT, x ? T_BF16 : T_F16, T_F32, r, 0, 0, 0, 1, 0);
		}
	/* ld / st */
	static const char *spn[] = {"global", "shared", "local", "param"};
	int lts[] = {T_B8, T_U8, T_S8, T_B16, T_U16, T_S16, T_F16, T_B32, T_U32, T_S32, T_F32, T_B64, T_U64, T_S64, T_F64};
	for (int sp = 0; sp < 4; sp++)
		for (int nc = 0; nc < 2; nc++)
			for (int v = 1; v <= 4; v *= 2)
				for (int i = 0; i < 15; i++) {
					int t = lts[i];
					if (nc && sp != SP_GLOBAL)
						continue;
					if (v == 4 && type_size(t) == 8)
						continue;
					if (v > 1 && sp == SP_PARAM)
						continue;
					char vs[16] = "";
					if (v > 1)
						snprintf(vs, sizeof vs, ".v%d", v);
					snprintf(b, sizeof b, "ld.%s%s%s.%s", spn[sp], nc ? ".nc" : "", vs, tname(t));
					addf(b, OP_LD_GLOBAL + sp, P_LD, t, 0, RM_RN, is_signed(t) ? F_SIGNED : 0, 0,
					     (int)type_size(t), v, sp);
					/* Cache operators (.cg: from L2, past L1, what __ldcg
					 * and reads of other blocks' results use) change
					 * nothing here: the interpreter's memory is coherent. */
					static const char *ldcop[] = {"ca", "cg", "cs", "lu", "cv"}, *stcop[] = {"wb", "cg", "cs", "wt"};
					for (int c = 0; c < 5 && sp == SP_GLOBAL && !nc; c++) {
						snprintf(b, sizeof b, "ld.global.%s%s.%s", ldcop[c], vs, tname(t));
						addf(b, OP_LD_GLOBAL, P_LD, t, 0, RM_RN, is_signed(t) ? F_SIGNED : 0, 0, (int)type_size(t), v, sp);
					}
					if (sp == SP_PARAM || nc)
						continue;
					snprintf(b, sizeof b, "st.%s%s.%s", spn[sp], vs, tname(t));
					addf(b, OP_ST_GLOBAL + sp, P_ST, t, 0, RM_RN, 0, 0, (int)type_size(t), v, sp);
					for (int c = 0; c < 4 && sp == SP_GLOBAL; c++) {
						snprintf(b, sizeof b, "st.global.%s%s.%s", stcop[c], vs, tname(t));
						addf(b, OP_ST_GLOBAL, P_ST, t, 0, RM_RN, 0, 0, (int)type_size(t), v, sp);
					}
				}
	/* atomics */
	static const struct { const char *n; int sub, t; } at[] = {
		{"and.b32", AT_AND, T_B32}, {"or.b32", AT_OR, T_B32}, {"xor.b32", AT_XOR, T_B32},
		{"and.b64", AT_AND, T_B64}, {"or.b64", AT_OR, T_B64}, {"xor.b64", AT_XOR, T_B64},
		{"add.u32", AT_ADD, T_U32}, {"add.s32", AT_ADD, T_S32}, {"add.u64", AT_ADD, T_U64},
		{"add.f32", AT_ADD, T_F32}, {"exch.b32", AT_EXCH, T_B32}, {"exch.b64", AT_EXCH, T_B64},
		{"min.u32", AT_MIN, T_U32}, {"min.s32", AT_MIN, T_S32}, {"max.u32", AT_MAX, T_U32},
		{"max.s32", AT_MAX, T_S32}, {"cas.b32", AT_CAS, T_B32}, {"cas.b64", AT_CAS, T_B64},
	};
	for (int sp = 0; sp < 2; sp++)
		for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
			snprintf(b, sizeof b, "atom.%s.%s", spn[sp], at[i].n);
			addf(b, sp ? OP_ATOM_SHARED : OP_ATOM_GLOBAL, P_ATOM, at[i].t, 0, RM_RN, 0, at[i].sub,
			     (int)type_size(at[i].t), 1, sp);
		}
	/* control and warp */
	/* tensor cores: m16n8k16 with f16/bf16 inputs and f32 accumulators */
	addf("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32", OP_MMA, P_MMA, T_F32, T_BF16, RM_RN, 0, 0, 0, 1, 0);
	addf("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32", OP_MMA, P_MMA, T_F32, T_F16, RM_RN, 0, 0, 0, 1, 0);
	for (int x = 1; x <= 4; x *= 2)
		for (int tr = 0; tr < 2; tr++) {
			snprintf(b, sizeof b, "ldmatrix.sync.aligned.m8n8.x%d%s.shared.b16", x, tr ? ".trans" : "");
			addf(b, OP_LDMATRIX, P_LDMATRIX, T_B16, 0, RM_RN, 0, (uint8_t)tr, 16, x, SP_SHARED);
		}
	addf("cp.async.ca.shared.global", OP_CP_ASYNC, P_CPASYNC, T_B32, 0, RM_RN, 0, 0, 0, 1, SP_SHARED);
	addf("cp.async.cg.shared.global", OP_CP_ASYNC, P_CPASYNC, T_B32, 0, RM_RN, 0, 1, 0, 1, SP_SHARED);
	add1("cp.async.commit_group", OP_CP_ASYNC_COMMIT, P_NONE, 0);
	add1("cp.async.wait_group", OP_CP_ASYNC_WAIT, P_WAITG, T_U32);
	addf("cp.async.wait_all", OP_CP_ASYNC_WAIT, P_NONE, 0, 0, RM_RN, 0, 1, 0, 1, 0);
	add1("bra", OP_BRA, P_BRA, 0);
	add1("bra.uni", OP_BRA, P_BRA, 0);
	add1("ret", OP_EXIT, P_NONE, 0);
	add1("exit", OP_EXIT, P_NONE, 0);
	add1("trap", OP_TRAP, P_NONE, 0);
	add1("bar.sync", OP_BAR, P_BAR, T_U32);
	add1("barrier.sync", OP_BAR, P_BAR, T_U32);
	add1("barrier.sync.aligned", OP_BAR, P_BAR, T_U32);
	/* __syncwarp(mask): the member-mask rules of shfl (see resolve_wsync) */
	add1("bar.warp.sync", OP_WSYNC, P_WSYNC, T_U32);
	/* Memory fences (__threadfence() is membar.gl, __threadfence_block()
	 * membar.cta). The interpreter runs one thread at a time over one
	 * coherent memory, so every access is already ordered: a fence has
	 * nothing left to do. */
	static const char *fence[] = {"membar.cta", "membar.gl", "membar.sys", "fence.sc.cta", "fence.sc.gpu", "fence.sc.sys",
	                              "fence.acq_rel.cta", "fence.acq_rel.gpu", "fence.acq_rel.sys"};
	for (size_t i = 0; i < sizeof fence / sizeof fence[0]; i++)
		add1(fence[i], OP_FENCE, P_NONE, 0);
	static const char *sm[] = {"up", "down", "bfly", "idx"};
	for (int i = 0; i < 4; i++) {
		snprintf(b, sizeof b, "shfl.sync.%s.b32", sm[i]);
		addf(b, OP_SHFL, P_SHFL, T_B32, 0, RM_RN, 0, i, 0, 1, 0);
	}
	addf("vote.sync.all.pred", OP_VOTE, P_VOTE, T_PRED, 0, RM_RN, 0, VOTE_ALL, 0, 1, 0);
	addf("vote.sync.any.pred", OP_VOTE, P_VOTE, T_PRED, 0, RM_RN, 0, VOTE_ANY, 0, 1, 0);
	addf("vote.sync.uni.pred", OP_VOTE, P_VOTE, T_PRED, 0, RM_RN, 0, VOTE_UNI, 0, 1, 0);
	addf("vote.sync.ballot.b32", OP_VOTE, P_VOTE, T_B32, 0, RM_RN, 0, VOTE_BALLOT, 0, 1, 0);
	qsort(forms, nforms, sizeof *forms, cmpform);
}

static const opform *find_form(const tok *t)
{
	static int built;
	if (!__atomic_load_n(&built, __ATOMIC_ACQUIRE)) {
		static int lock;
		while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
			;
		if (!built) {
			build_forms();
			__atomic_store_n(&built, 1, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
	}
	char name[80];
	if (t->len >= (int)sizeof name)
		return NULL;
	memcpy(name, t->s, t->len);
	name[t->len] = 0;
	int lo = 0, hi = nforms - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(name, forms[mid].name);
		if (!c)
			return &forms[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ptx_opcode_known tells whether the interpreter implements a form (tests). */
int ptx_opcode_known(const char *name)
{
	tok t = {TK_ID, 0, name, (int)strlen(name)};
	return find_form(&t) != NULL;
}

/* ---------- instructions ---------- */

static insn *new_insn(parser *P, int line)
{
	ptx_kernel *k = P->k;
	k->code = grow(k->code, &P->capcode, k->ncode + 1, sizeof *k->code);
	insn *in = &k->code[k->ncode++];
	memset(in, 0, sizeof *in);
	in->g = SLOT_TRUE;
	in->line = line;
	in->nvec = 1;
	return in;
}

static void need(parser *P, int line, int n, int want, const tok *op)
{
	if (n != want)
		perr(P, line, "'%.*s' takes %d operands, found %d", op->len, op->s, want, n);
}

static void parse_insn(parser *P)
{
	tok *t = peek(P);
	int line = t->line;
	int64_t guard = -1;
	int gneg = 0;
	if (accept(P, "@")) {
		gneg = accept(P, "!");
		tok *g = next(P);
		guard = lookup_reg(P, g);
		if (guard < 0) {
			perr(P, g->line, "undeclared predicate '%.*s'", g->len, g->s);
			return;
		}
	}
	tok *opt = next(P);
	if (opt->kind != TK_ID) {
		perr(P, opt->line, "expected an instruction, found '%.*s'", opt->len, opt->s);
		return;
	}
	const opform *f = find_form(opt);
	if (!f) {
		perr(P, opt->line, "unknown opcode '%.*s'", opt->len, opt->s);
		return;
	}
	opnd o[8];
	int n = 0;
	if (!teq(peek(P), ";")) {
		for (;;) {
			if (n == 8) {
				perr(P, line, "too many operands");
				return;
			}
			parse_operand(P, &o[n++]);
			if (P->failed)
				goto out;
			if (!accept(P, ","))
				break;
		}
	}
	expect(P, ";");
	if (P->failed)
		goto out;
	insn *in = new_insn(P, line);
	in->op = f->op;
	in->sub = f->sub;
	in->ty = f->ty;
	in->ty2 = f->ty2;
	in->rm = f->rm;
	in->flags = f->flags;
	in->size = f->size;
	in->nvec = f->nvec;
	if (guard >= 0) {
		in->g = (uint32_t)guard;
		in->gneg = (uint8_t)gneg;
	}
	int ty = f->ty;
	switch (f->pat) {
	case P_D_A:
		need(P, line, n, 2, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		break;
	case P_D_AB:
	case P_SHIFT: {
		need(P, line, n, 3, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		int bt = ty;
		if (f->pat == P_SHIFT)
			bt = T_U32;
		in->b = enc_src(P, &o[2], bt);
		break;
	}
	case P_D_ABC:
		need(P, line, n, 4, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		if (in->op == OP_BFE_U32 || in->op == OP_BFE_S32) {
			in->b = enc_src(P, &o[2], T_U32);
			in->c = enc_src(P, &o[3], T_U32);
		} else {
			in->b = enc_src(P, &o[2], ty);
			/* mad.wide: the addend is twice as wide */
			in->c = enc_src(P, &o[3], (in->op == OP_MADWIDE_S32 || in->op == OP_MADWIDE_U32) ? T_S64 : ty);
		}
		break;
	case P_D_ABCE:
		need(P, line, n, 5, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		in->b = enc_src(P, &o[2], ty);
		in->c = enc_src(P, &o[3], T_U32);
		in->e = enc_src(P, &o[4], T_U32);
		break;
	case P_SETP:
		need(P, line, n, 3, opt);
		if (P->failed) break;
		if (o[0].kind == OK_REG && o[0].pred2 >= 0) {
			perr(P, line, "setp with two destinations is not supported by cudaemu (refused, never run wrong)");
			break;
		}
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		in->b = enc_src(P, &o[2], ty);
		break;
	case P_SELP:
		need(P, line, n, 4, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		in->b = enc_src(P, &o[2], ty);
		in->c = enc_src(P, &o[3], T_PRED);
		break;
	case P_MOV:
		need(P, line, n, 2, opt);
		if (P->failed) break;
		if (o[0].kind == OK_VEC || o[1].kind == OK_VEC) {
			int dvec = o[0].kind == OK_VEC;
			opnd *v = dvec ? &o[0] : &o[1];
			if (v->nv != 2 || (ty != T_B32 && ty != T_B64)) {
				perr(P, line, "mov.%s with a vector of %d is not supported by cudaemu (refused, never run wrong)", tname(ty), v->nv);
				break;
			}
			int half = ty == T_B32 ? T_B16 : T_B32;
			if (dvec) {
				in->op = ty == T_B32 ? OP_UNPACK16X2 : OP_UNPACK32X2;
				in->v[0] = enc_dst(P, &v->v[0]);
				in->v[1] = enc_dst(P, &v->v[1]);
				in->a = enc_src(P, &o[1], ty);
			} else {
				in->op = ty == T_B32 ? OP_PACK16X2 : OP_PACK32X2;
				in->d = enc_dst(P, &o[0]);
				in->v[0] = enc_src(P, &v->v[0], half);
				in->v[1] = enc_src(P, &v->v[1], half);
			}
			break;
		}
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], ty);
		break;
	case P_CVT:
		need(P, line, n, f->op == OP_CVT_X2 ? 3 : 2, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], f->ty2);
		if (f->op == OP_CVT_X2)
			in->b = enc_src(P, &o[2], f->ty2);
		break;
	case P_LD:
	case P_ST: {
		need(P, line, n, 2, opt);
		if (P->failed) break;
		opnd *val = f->pat == P_LD ? &o[0] : &o[1];
		opnd *adr = f->pat == P_LD ? &o[1] : &o[0];
		enc_addr(P, adr, f->space, in);
		if (f->nvec > 1) {
			if (val->kind != OK_VEC || val->nv != f->nvec) {
				perr(P, line, "'%.*s' needs a vector of %d registers", opt->len, opt->s, f->nvec);
				break;
			}
			for (int i = 0; i < f->nvec; i++)
				in->v[i] = f->pat == P_LD ? enc_dst(P, &val->v[i]) : enc_src(P, &val->v[i], ty);
		} else if (f->pat == P_LD) {
			in->d = enc_dst(P, val);
		} else {
			in->b = enc_src(P, val, ty);
		}
		break;
	}
	case P_ATOM: {
		int want = f->sub == AT_CAS ? 4 : 3;
		need(P, line, n, want, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		enc_addr(P, &o[1], f->space, in);
		in->b = enc_src(P, &o[2], ty);
		if (f->sub == AT_CAS)
			in->c = enc_src(P, &o[3], ty);
		break;
	}
	case P_BRA:
		need(P, line, n, 1, opt);
		if (P->failed) break;
		if (o[0].kind != OK_SYM) {
			perr(P, line, "bra needs a label");
			break;
		}
		P->fix = grow(P->fix, &P->capfix, P->nfix + 1, sizeof *P->fix);
		P->fix[P->nfix].pc = P->k->ncode - 1;
		P->fix[P->nfix].name = tokdup(o[0].t);
		P->fix[P->nfix].line = line;
		P->nfix++;
		break;
	case P_NONE:
		need(P, line, n, 0, opt);
		if (in->op == OP_CP_ASYNC_COMMIT || in->op == OP_CP_ASYNC_WAIT)
			P->k->uses_cp_async = 1;
		break;
	case P_WAITG:
		need(P, line, n, 1, opt);
		if (P->failed) break;
		if (o[0].kind != OK_IMM || o[0].imm < 0 || o[0].imm > 255) {
			perr(P, line, "cp.async.wait_group needs a constant group count");
			break;
		}
		in->off = o[0].imm;
		P->k->uses_cp_async = 1;
		break;
	case P_MMA: {
		need(P, line, n, 4, opt);
		if (P->failed) break;
		static const int want[4] = {4, 4, 2, 4};
		for (int i = 0; i < 4; i++)
			if (o[i].kind != OK_VEC || o[i].nv != want[i]) {
				perr(P, line, "mma operand %d must be a vector of %d registers", i + 1, want[i]);
				break;
			}
		if (P->failed) break;
		ptx_kernel *k = P->k;
		uint32_t *x = realloc(k->xops, (size_t)(k->nxops + 14) * sizeof *x);
		if (!x)
			abort();
		k->xops = x;
		in->target = (uint32_t)k->nxops;
		int j = k->nxops;
		for (int i = 0; i < 4; i++)
			x[j++] = enc_dst(P, &o[0].v[i]);
		for (int i = 0; i < 4; i++)
			x[j++] = enc_src(P, &o[1].v[i], T_B32);
		for (int i = 0; i < 2; i++)
			x[j++] = enc_src(P, &o[2].v[i], T_B32);
		for (int i = 0; i < 4; i++)
			x[j++] = enc_src(P, &o[3].v[i], T_F32);
		k->nxops = j;
		break;
	}
	case P_LDMATRIX:
		need(P, line, n, 2, opt);
		if (P->failed) break;
		if (o[0].kind != OK_VEC || o[0].nv != f->nvec) {
			perr(P, line, "'%.*s' needs a vector of %d registers", opt->len, opt->s, f->nvec);
			break;
		}
		for (int i = 0; i < f->nvec; i++)
			in->v[i] = enc_dst(P, &o[0].v[i]);
		enc_addr(P, &o[1], SP_SHARED, in);
		break;
	case P_CPASYNC: {
		if (n != 3 && n != 4) {
			perr(P, line, "cp.async takes 3 or 4 operands");
			break;
		}
		enc_addr(P, &o[0], SP_SHARED, in);
		int64_t doff = in->off;
		uint32_t da = in->a;
		enc_addr(P, &o[1], SP_GLOBAL, in);
		in->b = in->a;
		in->e = (uint32_t)0;
		in->v[1] = (uint32_t)(in->off);
		in->v[2] = (uint32_t)((uint64_t)in->off >> 32);
		in->a = da;
		in->off = doff;
		if (o[2].kind != OK_IMM || (o[2].imm != 4 && o[2].imm != 8 && o[2].imm != 16) || (f->sub == 1 && o[2].imm != 16)) {
			perr(P, line, "cp.async copy size must be 4, 8 or 16 (16 for .cg)");
			break;
		}
		in->size = (uint8_t)o[2].imm;
		if (n == 4) {
			in->c = enc_src(P, &o[3], T_U32);
			in->flags |= F_HASCOUNT;
		}
		P->k->uses_cp_async = 1;
		break;
	}
	case P_BAR:
		if (n != 1 && n != 2) {
			perr(P, line, "bar.sync takes 1 or 2 operands");
			break;
		}
		in->a = enc_src(P, &o[0], T_U32);
		if (n == 2) {
			in->b = enc_src(P, &o[1], T_U32);
			in->flags |= F_HASCOUNT;
		}
		break;
	case P_SHFL:
		need(P, line, n, 5, opt);
		if (P->failed) break;
		if (o[0].kind != OK_REG) {
			perr(P, line, "shfl needs a register destination");
			break;
		}
		{
			int64_t p2 = o[0].pred2;
			o[0].pred2 = -1;
			in->d = enc_dst(P, &o[0]);
			if (p2 >= 0) {
				opnd tmp = o[0];
				tmp.reg = p2;
				in->e = enc_dst(P, &tmp);
			} else {
				in->e = SLOT_SINK;
			}
		}
		in->a = enc_src(P, &o[1], T_B32);
		in->b = enc_src(P, &o[2], T_U32);
		in->c = enc_src(P, &o[3], T_U32);
		in->v[0] = enc_src(P, &o[4], T_U32);
		break;
	case P_WSYNC:
		need(P, line, n, 1, opt);
		if (P->failed) break;
		in->d = SLOT_SINK;
		in->v[0] = enc_src(P, &o[0], T_U32);
		break;
	case P_VOTE:
		need(P, line, n, 3, opt);
		if (P->failed) break;
		in->d = enc_dst(P, &o[0]);
		in->a = enc_src(P, &o[1], T_PRED);
		in->v[0] = enc_src(P, &o[2], T_U32);
		break;
	}
out:
	for (int i = 0; i < n; i++)
		free_opnd(&o[i]);
}

/* ---------- declarations ---------- */

/* parse_var_decl parses after the state space: [.align N] .type name[size] [= {...}] ; */
static int parse_var(parser *P, int space, int is_extern, ptx_var *v, uint8_t **init, size_t *initlen)
{
	memset(v, 0, sizeof *v);
	v->space = space;
	v->is_extern = is_extern;
	v->align = 0;
	tok *t = peek(P);
	v->line = t->line;
	if (accept(P, ".align")) {
		int64_t a;
		if (parse_int(P, next(P), &a))
			return -1;
		if (a <= 0 || (a & (a - 1))) {
			perr(P, t->line, "bad .align %lld", (long long)a);
			return -1;
		}
		v->align = (size_t)a;
	}
	tok *tt = next(P);
	int ty = type_of(tt);
	if (!ty || ty == T_PRED) {
		perr(P, tt->line, "bad variable type '%.*s'", tt->len, tt->s);
		return -1;
	}
	size_t es = type_size(ty);
	if (!v->align)
		v->align = es;
	tok *nm = next(P);
	if (nm->kind != TK_ID) {
		perr(P, nm->line, "expected a variable name");
		return -1;
	}
	v->name = tokdup(nm);
	size_t count = 1;
	int unsized = 0;
	if (accept(P, "[")) {
		if (accept(P, "]")) {
			unsized = 1;
			count = 0;
		} else {
			int64_t c;
			if (parse_int(P, next(P), &c))
				return -1;
			if (c < 0 || c > (1ll << 32)) {
				perr(P, nm->line, "bad array size");
				return -1;
			}
			count = (size_t)c;
			expect(P, "]");
		}
	}
	if (unsized && !is_extern) {
		perr(P, nm->line, "'%s' has no size", v->name);
		return -1;
	}
	v->size = count * es;
	if (initlen)
		*initlen = 0;
	if (accept(P, "=")) {
		if (!init) {
			perr(P, nm->line, "'%s' may not have an initialiser", v->name);
			return -1;
		}
		*init = calloc(v->size ? v->size : 1, 1);
		if (!*init)
			abort();
		int braces = accept(P, "{");
		size_t i = 0;
		for (;;) {
			opnd o;
			parse_simple(P, &o);
			if (P->failed)
				return -1;
			if (i >= count) {
				perr(P, o.line, "too many initialisers for '%s'", v->name);
				return -1;
			}
			uint64_t bits;
			if (o.kind == OK_IMM) {
				if (ty == T_F32) {
					float f = (float)o.imm;
					uint32_t u;
					memcpy(&u, &f, 4);
					bits = u;
				} else if (ty == T_F64) {
					double d = (double)o.imm;
					memcpy(&bits, &d, 8);
				} else
					bits = (uint64_t)o.imm;
			} else if ((o.kind == OK_FIMM32 && (ty == T_F32 || ty == T_B32)) ||
			           (o.kind == OK_FIMM64 && (ty == T_F64 || ty == T_B64))) {
				bits = (uint64_t)o.imm;
			} else {
				perr(P, o.line, "bad initialiser for '%s'", v->name);
				return -1;
			}
			memcpy(*init + i * es, &bits, es); /* little-endian */
			i++;
			if (!accept(P, ","))
				break;
		}
		if (braces)
			expect(P, "}");
		*initlen = v->size;
	}
	expect(P, ";");
	return P->failed ? -1 : 0;
}

static void parse_reg_decl(parser *P)
{
	tok *tt = next(P);
	int ty = type_of(tt);
	if (!ty) {
		perr(P, tt->line, "bad register type '%.*s'", tt->len, tt->s);
		return;
	}
	for (;;) {
		tok *nm = next(P);
		if (nm->kind != TK_ID) {
			perr(P, nm->line, "expected a register name");
			return;
		}
		if (accept(P, "<")) {
			int64_t c;
			if (parse_int(P, next(P), &c))
				return;
			expect(P, ">");
			if (c <= 0 || c > 1 << 20) {
				perr(P, nm->line, "bad register count %lld", (long long)c);
				return;
			}
			declare_reg(P, nm, (int)c, nm->line);
		} else {
			declare_reg(P, nm, 0, nm->line);
		}
		if (P->failed)
			return;
		if (!accept(P, ","))
			break;
	}
	expect(P, ";");
}

static void add_local_sym(parser *P, ptx_var *v, int space)
{
	if (find_sym(P, v->name, (int)strlen(v->name)) >= 0) {
		perr(P, v->line, "'%s' declared twice", v->name);
		return;
	}
	P->syms = grow(P->syms, &P->capsyms, P->nsyms + 1, sizeof *P->syms);
	symref *s = &P->syms[P->nsyms++];
	s->name = strdup(v->name);
	s->space = space;
	s->is_dyn = v->is_extern;
	s->defined = 1;
	ptx_kernel *k = P->k;
	if (space == SP_SHARED) {
		if (v->is_extern) {
			s->off = 0;
		} else {
			k->static_shared = align_up(k->static_shared, v->align);
			s->off = k->static_shared;
			k->static_shared += v->size;
		}
	} else {
		k->local_size = align_up(k->local_size, v->align);
		s->off = k->local_size;
		k->local_size += v->size;
	}
}

static void finish_kernel(parser *P)
{
	ptx_kernel *k = P->k;
	/* labels */
	for (int i = 0; i < P->nfix && !P->failed; i++) {
		int found = -1;
		for (int j = 0; j < P->nlabels; j++)
			if (!strcmp(P->labels[j].name, P->fix[i].name)) {
				found = P->labels[j].pc;
				break;
			}
		if (found < 0)
			perr(P, P->fix[i].line, "unknown label '%s'", P->fix[i].name);
		else
			k->code[P->fix[i].pc].target = (uint32_t)found;
	}
	/* a kernel ends with an implicit exit */
	insn *last = new_insn(P, P->L.t[P->L.i > 0 ? P->L.i - 1 : 0].line);
	last->op = OP_EXIT;
	if (k->static_shared > 48 * 1024)
		perr(P, k->line, "kernel %s: %zu bytes of static .shared exceed the 48 KiB limit", k->name, k->static_shared);
	k->dyn_offset = align_up(k->static_shared, 16);
	uint32_t cbase = SLOT_NSPECIAL;
	uint32_t rbase = cbase + (uint32_t)P->nconsts;
	k->ninit = rbase;
	k->nslots = rbase + P->nreg_slots;
	k->init = calloc(k->ninit, sizeof *k->init);
	if (!k->init)
		abort();
	k->init[SLOT_TRUE].u64 = 1;
	for (int i = 0; i < P->nconsts; i++) {
		cnst *c = &P->consts[i];
		uint64_t v = c->bits;
		if (c->sym >= 0) {
			symref *s = &P->syms[c->sym];
			v = s->is_dyn ? k->dyn_offset : s->off;
		}
		k->init[cbase + i].u64 = v;
	}
#define FIX(x) do { if ((x) & CONST_FLAG) (x) = cbase + ((x) & ~CONST_FLAG); \
	else if ((x) & REG_FLAG) (x) = rbase + ((x) & ~REG_FLAG); } while (0)
	for (int i = 0; i < k->ncode; i++) {
		insn *in = &k->code[i];
		FIX(in->g); FIX(in->d); FIX(in->a); FIX(in->b); FIX(in->c); FIX(in->e);
		if (in->op == OP_CP_ASYNC)
			FIX(in->v[0]);
		else if (in->op != OP_BRA)
			for (int j = 0; j < 4; j++)
				FIX(in->v[j]);
	}
	for (int i = 0; i < k->nxops; i++)
		FIX(k->xops[i]);
#undef FIX
}

static void reset_kernel_state(parser *P)
{
	for (int i = 0; i < P->npnames; i++)
		free(P->pnames[i]);
	P->npnames = 0;
	for (int i = 0; i < P->nregs; i++)
		free(P->regs[i].name);
	P->nregs = 0;
	P->nreg_slots = 0;
	P->nconsts = 0;
	for (int i = 0; i < P->nsyms; i++)
		free(P->syms[i].name);
	P->nsyms = 0;
	for (int i = 0; i < P->nlabels; i++)
		free(P->labels[i].name);
	P->nlabels = 0;
	for (int i = 0; i < P->nfix; i++)
		free(P->fix[i].name);
	P->nfix = 0;
	P->depth = 0;
	P->capcode = 0;
}

static void parse_body(parser *P)
{
	/* at '{' */
	expect(P, "{");
	P->depth = 1;
	while (!P->failed) {
		tok *t = peek(P);
		if (t->kind == TK_EOF) {
			perr(P, t->line, "kernel %s: missing '}'", P->k->name);
			return;
		}
		if (teq(t, "}")) {
			next(P);
			/* drop registers of the closed scope */
			while (P->nregs > 0 && P->regs[P->nregs - 1].depth >= P->depth) {
				free(P->regs[P->nregs - 1].name);
				P->nregs--;
			}
			if (--P->depth == 0)
				return;
			continue;
		}
		if (teq(t, "{")) {
			next(P);
			P->depth++;
			continue;
		}
		if (teq(t, ".reg")) {
			next(P);
			parse_reg_decl(P);
			continue;
		}
		if (teq(t, ".pragma")) {
			next(P);
			while (!P->failed && !teq(peek(P), ";") && peek(P)->kind != TK_EOF)
				next(P);
			expect(P, ";");
			continue;
		}
		if (teq(t, ".shared") || teq(t, ".local")) {
			int sp = teq(t, ".shared") ? SP_SHARED : SP_LOCAL;
			next(P);
			ptx_var v;
			if (parse_var(P, sp, 0, &v, NULL, NULL) == 0)
				add_local_sym(P, &v, sp);
			free(v.name);
			continue;
		}
		if (t->kind == TK_ID && t->s[0] != '.' && teq(&P->L.t[P->L.i + 1], ":")) {
			P->labels = grow(P->labels, &P->caplabels, P->nlabels + 1, sizeof *P->labels);
			P->labels[P->nlabels].name = tokdup(t);
			P->labels[P->nlabels].pc = P->k->ncode;
			P->nlabels++;
			next(P);
			next(P);
			continue;
		}
		if (t->kind == TK_ID && t->s[0] == '.') {
			perr(P, t->line, "unknown directive '%.*s'", t->len, t->s);
			return;
		}
		parse_insn(P);
	}
}

static void parse_entry(parser *P)
{
	tok *nm = next(P);
	if (nm->kind != TK_ID) {
		perr(P, nm->line, "expected a kernel name");
		return;
	}
	ptx_module *m = P->m;
	ptx_kernel *k = calloc(1, sizeof *k);
	if (!k)
		abort();
	k->name = tokdup(nm);
	k->mod = m;
	k->line = nm->line;
	for (int i = 0; i < m->nkernels; i++)
		if (!strcmp(m->kernels[i]->name, k->name))
			perr(P, nm->line, "kernel %s defined twice", k->name);
	m->kernels = realloc(m->kernels, (m->nkernels + 1) * sizeof *m->kernels);
	if (!m->kernels)
		abort();
	m->kernels[m->nkernels++] = k;
	P->k = k;
	reset_kernel_state(P);
	int cap = 0;
	expect(P, "(");
	if (!accept(P, ")")) {
		for (;;) {
			tok *pt = next(P);
			if (!teq(pt, ".param")) {
				perr(P, pt->line, "expected .param, found '%.*s'", pt->len, pt->s);
				return;
			}
			size_t align = 0;
			if (accept(P, ".align")) {
				int64_t a;
				if (parse_int(P, next(P), &a))
					return;
				align = (size_t)a;
			}
			tok *tt = next(P);
			int ty = type_of(tt);
			if (!ty || ty == T_PRED) {
				perr(P, tt->line, "bad parameter type '%.*s'", tt->len, tt->s);
				return;
			}
			tok *pn = next(P);
			size_t sz = type_size(ty);
			if (!align)
				align = sz;
			if (accept(P, "[")) {
				int64_t c;
				if (parse_int(P, next(P), &c))
					return;
				expect(P, "]");
				sz *= (size_t)c;
			}
			if (k->nparams == cap) {
				cap = cap ? cap * 2 : 8;
				k->psize = realloc(k->psize, cap * sizeof *k->psize);
				k->poff = realloc(k->poff, cap * sizeof *k->poff);
				P->pnames = realloc(P->pnames, cap * sizeof *P->pnames);
				if (!k->psize || !k->poff || !P->pnames)
					abort();
			}
			k->pbytes = align_up(k->pbytes, align);
			k->poff[k->nparams] = k->pbytes;
			k->psize[k->nparams] = sz;
			P->pnames[k->nparams] = tokdup(pn);
			P->npnames = k->nparams + 1;
			k->nparams++;
			k->pbytes += sz;
			if (P->failed)
				return;
			if (accept(P, ")"))
				break;
			expect(P, ",");
			if (P->failed)
				return;
		}
	}
	/* performance directives */
	while (!P->failed && !teq(peek(P), "{")) {
		tok *d = next(P);
		if (teq(d, ".maxntid") || teq(d, ".reqntid") || teq(d, ".minnctapersm") || teq(d, ".maxnreg") ||
		    teq(d, ".maxclusterrank") || teq(d, ".reqnctapercluster")) {
			while (peek(P)->kind == TK_NUM || teq(peek(P), ","))
				next(P);
			continue;
		}
		perr(P, d->line, "unexpected '%.*s' before the kernel body", d->len, d->s);
		return;
	}
	parse_body(P);
	if (!P->failed)
		finish_kernel(P);
}

static void free_kernel(ptx_kernel *k)
{
	if (!k)
		return;
	free(k->name);
	free(k->psize);
	free(k->poff);
	free(k->code);
	free(k->init);
	free(k->xops);
	free(k);
}

void ptx_unload(ptx_module *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->nkernels; i++)
		free_kernel(m->kernels[i]);
	free(m->kernels);
	for (int i = 0; i < m->nglobals; i++) {
		free(m->globals[i].name);
		free(m->globals[i].host);
	}
	free(m->globals);
	free(m);
}

ptx_module *ptx_load(const char *text, char *err, size_t errlen)
{
	parser P;
	memset(&P, 0, sizeof P);
	char dummy[8];
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof dummy;
	}
	err[0] = 0;
	P.err = err;
	P.errlen = errlen;
	if (!text) {
		snprintf(err, errlen, "ptx: no module text");
		return NULL;
	}
	P.m = calloc(1, sizeof *P.m);
	if (!P.m || lex(&P.L, text)) {
		snprintf(err, errlen, "ptx: out of memory");
		free(P.m);
		return NULL;
	}
	int seen_version = 0;
	while (!P.failed) {
		tok *t = next(&P);
		if (t->kind == TK_EOF)
			break;
		if (teq(t, ".version")) {
			tok *v = next(&P);
			seen_version = 1;
			if (v->kind != TK_NUM)
				perr(&P, v->line, "bad .version");
			continue;
		}
		if (teq(t, ".target")) {
			for (;;) {
				tok *v = next(&P);
				if (v->kind != TK_ID)
					perr(&P, v->line, "bad .target");
				if (!accept(&P, ","))
					break;
			}
			continue;
		}
		if (teq(t, ".address_size")) {
			tok *v = next(&P);
			if (!teq(v, "64"))
				perr(&P, v->line, "only .address_size 64 is supported");
			continue;
		}
		int is_extern = 0;
		while (teq(t, ".visible") || teq(t, ".weak") || teq(t, ".extern")) {
			if (teq(t, ".extern"))
				is_extern = 1;
			t = next(&P);
		}
		if (teq(t, ".entry")) {
			parse_entry(&P);
			continue;
		}
		if (teq(t, ".func")) {
			perr(&P, t->line, ".func (device functions) is not supported by cudaemu (refused, never run wrong)");
			break;
		}
		if (teq(t, ".global") || teq(t, ".const")) {
			ptx_var v;
			uint8_t *init = NULL;
			size_t initlen = 0;
			if (parse_var(&P, SP_GLOBAL, is_extern, &v, &init, &initlen) == 0) {
				if (is_extern)
					perr(&P, v.line, "extern .global '%s' is not supported", v.name);
				v.host = NULL;
				if (!P.failed && posix_memalign(&v.host, v.align < 16 ? 16 : v.align, v.size ? v.size : 1))
					abort();
				if (v.host) {
					memset(v.host, 0, v.size ? v.size : 1);
					if (init)
						memcpy(v.host, init, initlen);
				}
				P.m->globals = realloc(P.m->globals, (P.m->nglobals + 1) * sizeof *P.m->globals);
				if (!P.m->globals)
					abort();
				P.m->globals[P.m->nglobals++] = v;
			} else {
				free(v.name);
			}
			free(init);
			continue;
		}
		if (teq(t, ".shared")) {
			ptx_var v;
			if (parse_var(&P, SP_SHARED, is_extern, &v, NULL, NULL) == 0) {
				P.mshared = realloc(P.mshared, (P.nmshared + 1) * sizeof *P.mshared);
				if (!P.mshared)
					abort();
				P.mshared[P.nmshared++] = v;
			} else {
				free(v.name);
			}
			continue;
		}
		perr(&P, t->line, "unknown directive '%.*s'", t->len, t->s);
	}
	if (!P.failed && !seen_version)
		perr(&P, 1, "no .version directive");
	reset_kernel_state(&P);
	free(P.regs);
	free(P.consts);
	free(P.syms);
	free(P.labels);
	free(P.fix);
	free(P.pnames);
	for (int i = 0; i < P.nmshared; i++)
		free(P.mshared[i].name);
	free(P.mshared);
	free(P.L.t);
	if (P.failed) {
		ptx_unload(P.m);
		return NULL;
	}
	return P.m;
}

ptx_kernel *ptx_kernel_find(ptx_module *m, const char *name)
{
	if (!m || !name)
		return NULL;
	for (int i = 0; i < m->nkernels; i++)
		if (!strcmp(m->kernels[i]->name, name))
			return m->kernels[i];
	return NULL;
}

int ptx_kernel_nparams(const ptx_kernel *k) { return k->nparams; }
size_t ptx_kernel_param_size(const ptx_kernel *k, int i)
{
	return i >= 0 && i < k->nparams ? k->psize[i] : 0;
}
size_t ptx_kernel_static_shared(const ptx_kernel *k) { return k->static_shared; }

int ptx_global_find(ptx_module *m, const char *name, void **addr, size_t *size)
{
	for (int i = 0; m && i < m->nglobals; i++)
		if (!strcmp(m->globals[i].name, name)) {
			if (addr)
				*addr = m->globals[i].host;
			if (size)
				*size = m->globals[i].size;
			return 0;
		}
	return -1;
}

int ptx_global_count(const ptx_module *m) { return m ? m->nglobals : 0; }

int ptx_global_at(const ptx_module *m, int i, const char **name, void **addr, size_t *size)
{
	if (!m || i < 0 || i >= m->nglobals)
		return -1;
	if (name)
		*name = m->globals[i].name;
	if (addr)
		*addr = m->globals[i].host;
	if (size)
		*size = m->globals[i].size;
	return 0;
}

int ptx_module_kernel_count(const ptx_module *m) { return m ? m->nkernels : 0; }
