/**
 * Every page of a keyset-paged listing, in order: each asked for after the cursor of the previous
 * page's last item, until a page comes back shorter than `size`.
 */
export async function* keysetPages<Item, Cursor>(
  size: number,
  page: (after: Cursor | undefined) => Promise<readonly Item[]>,
  cursorOf: (last: Item) => Cursor,
): AsyncGenerator<readonly Item[]> {
  for (let after: Cursor | undefined; ; ) {
    const items = await page(after)
    yield items
    if (items.length < size) return
    after = cursorOf(items.at(-1)!)
  }
}
