import { useState } from 'preact/hooks';
import { navigate } from '../router';
import { Field } from './common';
import { useOnChange } from './use-on-change';

/** The admin's account filter of a page; account keys see their own account only. */
export function AccountFilter({
  path,
  accountId,
}: {
  path: string;
  accountId: string | undefined;
}) {
  const [draft, setDraft] = useState(accountId ?? '');
  useOnChange(accountId, () => setDraft(accountId ?? ''));
  return (
    <form
      class="filters"
      aria-label="Filters"
      onSubmit={(event) => {
        event.preventDefault();
        navigate(path, { account_id: draft.trim() });
      }}
    >
      <Field label="Account">
        <input
          name="account_id"
          value={draft}
          onInput={(event) => setDraft(event.currentTarget.value)}
        />
      </Field>
      <div class="filter-actions">
        <button type="submit">Apply</button>
      </div>
    </form>
  );
}
