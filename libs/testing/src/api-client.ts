import { TEST_ADMIN_KEY } from './test-environment';

export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small client for the api under test, speaking plain HTTP like any user would. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string | null = TEST_ADMIN_KEY,
  ) {}

  withKey(key: string | null): ApiClient {
    return new ApiClient(this.baseUrl, key);
  }

  get<T>(path: string): Promise<ApiAnswer<T>> {
    return this.request<T>('GET', path);
  }

  post<T>(
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer<T>> {
    return this.request<T>('POST', path, body, headers);
  }

  patch<T>(path: string, body: unknown): Promise<ApiAnswer<T>> {
    return this.request<T>('PATCH', path, body);
  }

  delete<T>(path: string): Promise<ApiAnswer<T>> {
    return this.request<T>('DELETE', path);
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer<T>> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        ...(this.key === null ? {} : { authorization: `Bearer ${this.key}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    const json = response.headers.get('content-type')?.includes('application/json') ?? false;
    return {
      status: response.status,
      body: (json && text ? JSON.parse(text) : text) as T,
      headers: response.headers,
    };
  }
}
