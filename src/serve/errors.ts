// Errors as OpenAI-style clients expect them: an HTTP status and the body {"error": {message, type, param, code}},
// where `param` names the request field at fault (null when none does).

export type ErrorType = "invalid_request_error" | "authentication_error" | "not_found_error" | "rate_limit_error" | "server_error";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: ErrorType = status === 401 ? "authentication_error" : status === 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error",
  ) {
    super(message);
  }

  body(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 naming the field: `where` is its path in the body (e.g. "messages[1].content"). */
export function badField(where: string, message: string, code = "invalid_value"): ApiError {
  return new ApiError(400, `${where}: ${message}`, where, code);
}
