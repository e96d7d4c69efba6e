-- Which state of the papers a derived keyword index describes. Every change to what
-- that index holds (text, publication date, categories) bumps `generation`, so a
-- search can tell with one lookup whether the index is current; `store_uid` tells
-- one store's index files from another's.
CREATE TABLE keyword_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    store_uid  TEXT NOT NULL,
    generation INTEGER NOT NULL
);
INSERT INTO keyword_state (id, store_uid, generation) VALUES (1, lower(hex(randomblob(8))), 0);

CREATE TRIGGER keyword_state_insert AFTER INSERT ON papers BEGIN
    UPDATE keyword_state SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER keyword_state_delete AFTER DELETE ON papers BEGIN
    UPDATE keyword_state SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER keyword_state_update AFTER UPDATE OF title, abstract, author_names, published, categories
ON papers
WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract
  OR old.author_names IS NOT new.author_names OR old.published IS NOT new.published
  OR old.categories IS NOT new.categories
BEGIN
    UPDATE keyword_state SET generation = generation + 1 WHERE id = 1;
END;
