// The whole device-session flow of a native app, typed only by the types openapi-typescript
// generated from the example project's schema (./schema.d.ts, made by tox -e clients).
// Compiled with tsc --strict (tsconfig.json), never run: a change of the schema that breaks
// an app written against it breaks this file.
import type { components, operations } from "./schema";

type Schemas = components["schemas"];
type DeviceSession = Schemas["DeviceSession"];
type LoginResponse = Schemas["LoginResponse"];
type TokenResponse = Schemas["TokenResponse"];
type TokenSessionsError = Schemas["TokenSessionsError"];

// The JSON body of an operation's response with the given status.
type Body<Op extends keyof operations, Status extends keyof operations[Op]["responses"]> =
  operations[Op]["responses"][Status] extends { content: { "application/json": infer B } }
    ? B
    : never;
type RequestBody<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

// Every error of every operation is the one shared component.
const sameError: TokenSessionsError = {} as Body<"token_sessions_refresh", 401>;
void sameError;
const loginBody: LoginResponse = {} as Body<"token_sessions_login", 200>;
void loginBody;

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly error: TokenSessionsError,
  ) {
    super(`${status} ${error.code}: ${error.detail}`);
  }
}

async function call<T>(
  base: string,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  init: { body?: unknown; access?: string; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...init.headers };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  if (init.access !== undefined) headers["Authorization"] = `Bearer ${init.access}`;
  const response = await fetch(base + path, {
    method,
    headers,
    body: init.body === undefined ? null : JSON.stringify(init.body),
    credentials: "omit", // body transport: no cookie
  });
  if (!response.ok) {
    const error = (await response.json()) as TokenSessionsError;
    throw new ApiError(response.status, error);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

const transport: NonNullable<operations["token_sessions_login"]["parameters"]["header"]> = {
  "X-Token-Transport": "body",
};

async function login(base: string, username: string, password: string): Promise<LoginResponse> {
  const body: RequestBody<"token_sessions_login"> = { username, password };
  return call<Body<"token_sessions_login", 200>>(base, "POST", "/api/auth/login/", {
    body,
    headers: { ...transport },
  });
}

async function refresh(base: string, token: string, idempotencyKey: string): Promise<TokenResponse> {
  const body: RequestBody<"token_sessions_refresh"> = { refresh: token };
  // The same key again when retrying this refresh after a lost response.
  const headers: NonNullable<operations["token_sessions_refresh"]["parameters"]["header"]> = {
    "Idempotency-Key": idempotencyKey,
  };
  return call<Body<"token_sessions_refresh", 200>>(base, "POST", "/api/auth/refresh/", {
    body,
    headers: { ...headers },
  });
}

function refreshOf(tokens: LoginResponse | TokenResponse): string {
  if (tokens.refresh === undefined) throw new Error("no refresh token: not the body transport");
  return tokens.refresh;
}

export async function flow(base: string): Promise<string> {
  const phone = await login(base, "demo", "demo-password");
  const laptop = await login(base, "demo", "demo-password");
  const current: DeviceSession = phone.session;
  const expires: string = phone.access_expires_at;

  const rotated = await refresh(base, refreshOf(phone), crypto.randomUUID());
  const access = rotated.access;

  const sessions = await call<Body<"token_sessions_session_list", 200>>(
    base, "GET", "/api/auth/sessions/", { access },
  );
  const ids: string[] = sessions.map((s: DeviceSession) => s.id);
  const ip: string | null = sessions[0]?.ip_address ?? null;

  const rename: RequestBody<"token_sessions_session_rename"> = { name: "My phone" };
  const renamed = await call<Body<"token_sessions_session_rename", 200>>(
    base, "PATCH", `/api/auth/sessions/${current.id}/`, { access, body: rename },
  );
  const name: string = renamed.name;
  const custom: string = renamed.custom_name;

  await call<void>(base, "DELETE", `/api/auth/sessions/${laptop.session.id}/`, { access });

  const others: RequestBody<"token_sessions_logout_all"> = { scope: "others" };
  await call<void>(base, "POST", "/api/auth/logout-all/", { access, body: others });

  const logout: RequestBody<"token_sessions_logout"> = { refresh: refreshOf(rotated) };
  await call<void>(base, "POST", "/api/auth/logout/", { access, body: logout });

  try {
    await refresh(base, refreshOf(rotated), crypto.randomUUID());
  } catch (e) {
    if (e instanceof ApiError) {
      const code: string = e.error.code; // an open string: new codes do not break the app
      const errors = e.error.errors; // field -> messages, with invalid_request
      return `${code} ${errors === undefined ? "" : Object.keys(errors).join(",")}`;
    }
    throw e;
  }
  return [expires, ids.join(","), ip ?? "", name, custom].join(" ");
}
