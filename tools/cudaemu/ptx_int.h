/*
 * ptx_int.h - internals shared by the PTX parser (ptx_parse.c) and the
 * executor (ptx_exec.c). Not part of the driver-facing interface (ptx.h).
 */
#ifndef CUDAEMU_PTX_INT_H
#define CUDAEMU_PTX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ptx.h"

typedef union reg {
	uint64_t u64;
	int64_t s64;
	double f64;
	uint32_t u32;
	int32_t s32;
	float f32;
	uint16_t u16;
	int16_t s16;
} reg_t;

/* Fixed register-file slots. Constants follow the specials; declared
 * registers follow the constants, so a thread's file starts with a template
 * (slots 0 .. ninit-1) copied at thread start. */
enum {
	SLOT_TRUE = 0, /* constant 1: the guard of unguarded instructions */
	SLOT_SINK,     /* written by '_' destinations, never read */
	SLOT_TID_X, SLOT_TID_Y, SLOT_TID_Z,
	SLOT_NTID_X, SLOT_NTID_Y, SLOT_NTID_Z,
	SLOT_CTAID_X, SLOT_CTAID_Y, SLOT_CTAID_Z,
	SLOT_NCTAID_X, SLOT_NCTAID_Y, SLOT_NCTAID_Z,
	SLOT_LANEID, SLOT_WARPID, SLOT_NWARPID,
	SLOT_LANEMASK_EQ, SLOT_LANEMASK_LT, SLOT_LANEMASK_LE, SLOT_LANEMASK_GT,
	SLOT_LANEMASK_GE,
	SLOT_NSPECIAL
};

/* Rounding modes. */
enum { RM_RN = 0, RM_RZ, RM_RM, RM_RP, RM_NONE };

/* Scalar types. */
enum {
	T_NONE = 0, T_B8, T_U8, T_S8, T_B16, T_U16, T_S16, T_B32, T_U32, T_S32,
	T_B64, T_U64, T_S64, T_F16, T_BF16, T_F32, T_F64, T_PRED, T_F16X2,
	T_BF16X2
};

/* Memory spaces. */
enum { SP_GLOBAL = 0, SP_SHARED, SP_LOCAL, SP_PARAM };

typedef struct insn {
	uint16_t op;
	uint8_t gneg;   /* guard negated */
	uint8_t nvec;   /* vector width of ld/st, 1 otherwise */
	uint8_t sub;    /* op-specific: compare code, shfl mode, atom op ... */
	uint8_t ty;     /* op-specific type */
	uint8_t ty2;    /* cvt source type */
	uint8_t rm;     /* rounding mode */
	uint8_t flags;  /* F_SAT, F_FTZ, F_SIGNED ... */
	uint8_t size;   /* memory element size in bytes */
	uint32_t g;     /* guard predicate slot */
	uint32_t d, a, b, c, e;
	uint32_t v[4];  /* vector registers of ld/st/mov */
	int64_t off;    /* address offset */
	uint32_t target;/* branch target (instruction index) */
	int line;
} insn;

#define F_SAT 1
#define F_FTZ 2
#define F_SIGNED 4
#define F_HASCOUNT 8

typedef struct ptx_var {
	char *name;
	int space; /* SP_GLOBAL (module .global/.const), SP_SHARED, SP_LOCAL */
	size_t size, align;
	int is_extern;
	void *host; /* module globals */
	int line;
} ptx_var;

struct ptx_kernel {
	char *name;
	ptx_module *mod;
	int nparams;
	size_t *psize, *poff;
	size_t pbytes;
	insn *code;
	int ncode;
	uint32_t nslots, ninit;
	reg_t *init; /* ninit slots */
	size_t static_shared;
	size_t dyn_offset; /* where extern .shared starts */
	size_t local_size;
	uint32_t *xops; /* extra operand slots (mma), indexed by insn.target */
	int nxops;
	int uses_cp_async;
	int line;
};

struct ptx_module {
	ptx_kernel **kernels;
	int nkernels;
	ptx_var *globals;
	int nglobals;
};

/* Operation codes. */
enum {
	OP_NOP = 0,
	OP_MOV, OP_PACK16X2, OP_UNPACK16X2, OP_PACK32X2, OP_UNPACK32X2,
	OP_ADD16, OP_ADD32, OP_ADD64, OP_SUB16, OP_SUB32, OP_SUB64,
	OP_MULLO16, OP_MULLO32, OP_MULLO64, OP_MULHI_S32, OP_MULHI_U32,
	OP_MULWIDE_S32, OP_MULWIDE_U32, OP_MULWIDE_S16, OP_MULWIDE_U16,
	OP_MADLO32, OP_MADLO64, OP_MADWIDE_S32, OP_MADWIDE_U32,
	OP_DIV_S32, OP_DIV_U32, OP_DIV_S64, OP_DIV_U64,
	OP_REM_S32, OP_REM_U32, OP_REM_S64, OP_REM_U64,
	OP_MIN_S32, OP_MIN_U32, OP_MAX_S32, OP_MAX_U32,
	OP_MIN_S64, OP_MIN_U64, OP_MAX_S64, OP_MAX_U64,
	OP_NEG32, OP_NEG64, OP_ABS32, OP_ABS64,
	OP_AND16, OP_AND32, OP_AND64, OP_OR16, OP_OR32, OP_OR64,
	OP_XOR16, OP_XOR32, OP_XOR64, OP_NOT16, OP_NOT32, OP_NOT64,
	OP_ANDP, OP_ORP, OP_XORP, OP_NOTP,
	OP_SHL16, OP_SHL32, OP_SHL64, OP_SHR_U16, OP_SHR_S16, OP_SHR_U32,
	OP_SHR_S32, OP_SHR_U64, OP_SHR_S64,
	OP_BFI32, OP_BFI64, OP_BFE_U32, OP_BFE_S32, OP_POPC32, OP_POPC64,
	OP_CLZ32, OP_CLZ64, OP_BREV32,
	OP_SELP,
	OP_SETP_S16, OP_SETP_U16, OP_SETP_S32, OP_SETP_U32, OP_SETP_S64,
	OP_SETP_U64, OP_SETP_F32, OP_SETP_F64,
	OP_FADD32, OP_FSUB32, OP_FMUL32, OP_FFMA32, OP_FDIV32,
	OP_FARITH32_DIR, /* add/sub/mul/fma f32 with rz/rm/rp or ftz/sat */
	OP_FNEG32, OP_FABS32, OP_FMIN32, OP_FMAX32, OP_FRCP32, OP_FSQRT32,
	OP_FRCP_APPROX32, OP_FSQRT_APPROX32, OP_FRSQRT_APPROX32, OP_EX2_APPROX32,
	OP_LG2_APPROX32, OP_SIN_APPROX32, OP_COS_APPROX32, OP_TANH_APPROX32,
	OP_FADD64, OP_FSUB64, OP_FMUL64, OP_FFMA64, OP_FDIV64,
	OP_FARITH64_DIR,
	OP_FNEG64, OP_FABS64, OP_FMIN64, OP_FMAX64, OP_FRCP64, OP_FSQRT64,
	OP_RCP_APPROX_FTZ64,
	OP_CVT_S64_S32, OP_CVT_U64_U32, OP_CVT_U32_U64, OP_CVT_U16_U32,
	OP_CVT_SAT_F32, OP_CVT_F32_F16, OP_CVT_F32_BF16, OP_CVT, OP_CVT_X2,
	OP_LD_GLOBAL, OP_LD_SHARED, OP_LD_LOCAL, OP_LD_PARAM,
	OP_ST_GLOBAL, OP_ST_SHARED, OP_ST_LOCAL,
	OP_ATOM_GLOBAL, OP_ATOM_SHARED,
	OP_BRA, OP_EXIT, OP_BAR, OP_SHFL, OP_VOTE, OP_TRAP,
	OP_MMA, OP_LDMATRIX, OP_CP_ASYNC, OP_CP_ASYNC_COMMIT, OP_CP_ASYNC_WAIT,
	OP_FENCE, OP_WSYNC,
	OP_COUNT
};

/* setp compare codes */
enum {
	CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE,
	CMP_EQU, CMP_NEU, CMP_LTU, CMP_LEU, CMP_GTU, CMP_GEU,
	CMP_NUM, CMP_NAN, CMP_LO, CMP_LS, CMP_HI, CMP_HS
};

/* shfl modes */
enum { SHFL_UP, SHFL_DOWN, SHFL_BFLY, SHFL_IDX };
/* vote modes */
enum { VOTE_ALL, VOTE_ANY, VOTE_UNI, VOTE_BALLOT };
/* atom ops */
enum { AT_AND, AT_OR, AT_XOR, AT_ADD, AT_EXCH, AT_MIN, AT_MAX, AT_CAS, AT_INC, AT_DEC };

/* float helpers shared with the tests */
uint16_t ptx_f32_to_f16(float f, int rm);
uint16_t ptx_f32_to_bf16(float f, int rm);
float ptx_f16_to_f32(uint16_t h);

#endif
